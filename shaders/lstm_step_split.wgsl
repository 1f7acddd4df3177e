// lstm_step_split: lstm_step (same bindings and semantics) for small batches on adapters with
// subgroups. A workgroup of 64 owns one hidden unit j and ROWS batch rows: its invocations split
// the recurrent dot products over k, reduce them with subgroupAdd, combine the subgroups' sums
// through workgroup memory, and invocation 0 applies the gates. A GPU then runs H*64 invocations
// per step instead of H, which is what small batches need.
// Versions (pipeline constant ROWS): 1 or 4 batch rows per workgroup.

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wh: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> peep: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;
@group(0) @binding(7) var<storage, read_write> c: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn lstm_step_split(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let j = wid.x;
    let b0 = wid.y * ROWS;
    let d = wid.z;
    let H = lp.hidden;
    if (j >= H || b0 >= lp.batch || d >= lp.dirs) {
        return; // the whole workgroup leaves together
    }
    let B = lp.batch;
    let HI = lp.hidden_in;
    let s = sp.step;
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, SPLIT_ROWS>;
    for (var k0 = 0u; k0 < HI; k0 += SPLIT) {
        let k = k0 + li;
        if (k < HI) {
            let w = wh[blocked_unit(d, HI, H, j) + k * UNIT_BLOCK];
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += h[hrow[r] + k] * w;
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
    }
    var pv = vec3<f32>(0.0);
    if ((lp.flags & FLAG_PEEPHOLE) != 0u) {
        let pb = (d * H + j) * 3u;
        pv = vec3<f32>(peep[pb], peep[pb + 1u], peep[pb + 2u]);
    }
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= B) {
            break;
        }
        let rs = row_step(d, b);
        let h_cur = rs.cur;
        let h_nxt = rs.nxt;
        if (!rs.running) {
            h[h_nxt + j] = h[h_cur + j];
            continue;
        }
        let t = rs.t;
        let a = total[r] + xp[((d * lp.steps + t) * B + b) * H + j];
        let ci = (d * B + b) * H + j;
        let cell = lstm_cell(d, a, pv, c[ci]);
        let hv = cell.h;
        c[ci] = cell.c;
        h[h_nxt + j] = hv;
        out[((t * B + b) * lp.dirs + d) * HI + j] = hv;
    }
}
