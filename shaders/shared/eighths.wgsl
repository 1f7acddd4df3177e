// Sums split in eighths (train_step_backward): the eight invocations of units 8i .. 8i + 7 each
// sum an eighth of a product's terms for all eight units, then add their eighths here.
// A workgroup's invocations are consecutive units, whole eights of them in distinct slots
// (kernels.rs asserts it), so unit k's slots are k % SHARE_UNITS (shared/quarters).
// uses: shared/quarters

// [SHARE_UNITS units, 8 eighths] of vec4: a unit's eighth for the four rows of a quad.
var<workgroup> eighths: array<vec4<f32>, 8u * SHARE_UNITS>;

// Invocation k's eighth of units k & ~7 .. (k & ~7) + 7 in (column u of `low`: unit
// (k & ~7) + u; of `high`: unit (k & ~7) + 4 + u), the eight eighths of unit k added up out.
// Every invocation of the workgroup must call it: it holds two barriers, the second so that a
// next call may write again.
fn add_eighths(k: u32, low: mat4x4<f32>, high: mat4x4<f32>) -> vec4<f32> {
    let slot = ((k & ~7u) % SHARE_UNITS) * 8u + (k & 7u);
    for (var u = 0u; u < 4u; u++) {
        eighths[slot + 8u * u] = low[u];
        eighths[slot + 8u * (u + 4u)] = high[u];
    }
    workgroupBarrier();
    let mine = (k % SHARE_UNITS) * 8u;
    var total = eighths[mine];
    for (var p = 1u; p < 8u; p++) {
        total += eighths[mine + p];
    }
    workgroupBarrier();
    return total;
}
