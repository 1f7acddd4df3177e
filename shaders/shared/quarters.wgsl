// Sums split in quarters (train_step): the four invocations of units 4i .. 4i + 3 each sum a
// quarter of a product's terms for all four units, so a load of the operand every unit reads
// serves four units, then add their quarters here. The four-unit products below also serve
// train_step_backward's eighths (shared/eighths). A workgroup's invocations are consecutive
// units, TRAIN_WORKGROUP or PERSISTENT_UNITS of them (both divide SHARE_UNITS: kernels.rs
// asserts it), so unit k's slots are k % SHARE_UNITS.

const SHARE_UNITS: u32 = PERSISTENT_UNITS;

// [SHARE_UNITS units, 4 quarters] of vec4: a unit's quarter for the four rows of a quad.
var<workgroup> quarters: array<vec4<f32>, 4u * SHARE_UNITS>;

// Invocation k's quarter of units k & ~3 .. (k & ~3) + 3 (column u: unit (k & ~3) + u) in, the
// four quarters of unit k added up out. Every invocation of the workgroup must call it: it holds
// two barriers, the second so that a next call may write again.
fn add_quarters(k: u32, sums: mat4x4<f32>) -> vec4<f32> {
    let slot = ((k & ~3u) % SHARE_UNITS) * 4u + (k & 3u);
    for (var u = 0u; u < 4u; u++) {
        quarters[slot + 4u * u] = sums[u];
    }
    workgroupBarrier();
    let mine = (k % SHARE_UNITS) * 4u;
    let total = quarters[mine] + quarters[mine + 1u] + quarters[mine + 2u] + quarters[mine + 3u];
    workgroupBarrier();
    return total;
}

// sums[u][r] += weights[u] · operands[r]: four units' weights for a quad of terms (columns of
// `weights`) against four rows' operands (columns of `operands`); column u of sums is unit u's
// part (quarter or eighth) for the four rows.
fn add_unit_quads(sums: ptr<function, mat4x4<f32>>, weights: mat4x4<f32>, operands: mat4x4<f32>) {
    (*sums)[0] += weights[0] * operands;
    (*sums)[1] += weights[1] * operands;
    (*sums)[2] += weights[2] * operands;
    (*sums)[3] += weights[3] * operands;
}

// Each component of a as a whole column: one row's four sums as the quad's four rows.
fn broadcast(a: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(vec4<f32>(a.x), vec4<f32>(a.y), vec4<f32>(a.z), vec4<f32>(a.w));
}
