// rnn_step_split: rnn_step (same bindings and semantics) for small batches on adapters with
// subgroups: a workgroup of 64 owns hidden unit j and ROWS batch rows, splits the recurrent dot
// product over k (split_reduce), and invocation 0 finishes.
// Versions (pipeline constant ROWS): 1 or 4 batch rows per workgroup.

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> h: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn rnn_step_split(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let j = wid.x;
    let b0 = wid.y * ROWS;
    let d = wid.z;
    let H = lp.hidden;
    let B = lp.batch;
    let HI = lp.hidden_in;
    if (j >= H || b0 >= B || d >= lp.dirs) {
        return; // the whole workgroup leaves together
    }
    let s = sp.step;
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, SPLIT_ROWS>;
    for (var k0 = 0u; k0 < HI; k0 += SPLIT) {
        let k = k0 + li;
        if (k < HI) {
            let w = wh[quad_weight(d, HI, H, j, k, 1u)];
            for (var r = 0u; r < ROWS; r++) {
                acc[r].x += h[hrow[r] + k] * w;
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
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
        let hv = activate(lp.acts[d * 3u], clip_gate(lp, total[r].x + xp[((d * lp.steps + t) * B + b) * H + j]));
        h[h_nxt + j] = hv;
        y[((t * B + b) * lp.dirs + d) * HI + j] = hv;
    }
}
