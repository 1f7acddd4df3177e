// gru_step_split: gru_step (linear_before_reset = 1, same bindings and semantics) for small
// batches on adapters with subgroups: a workgroup of 64 owns hidden unit j and ROWS batch rows,
// splits the three recurrent dot products over k (split_reduce), and invocation 0 finishes.
// Versions (pipeline constant ROWS): 1 or 4 batch rows per workgroup.

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<f32>;
@group(0) @binding(4) var<storage, read> bh: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn gru_step_split(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let j = wid.x;
    let b0 = wid.y * ROWS;
    let d = wid.z;
    let H = lp.hidden;
    let B = lp.batch;
    if (j >= H || b0 >= B || d >= lp.dirs) {
        return; // the whole workgroup leaves together
    }
    let s = sp.step;
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, SPLIT_ROWS>;
    for (var k0 = 0u; k0 < H; k0 += SPLIT) {
        let k = k0 + li;
        if (k < H) {
            let wb = quad_weight(d, H, H, j, k, 3u);
            let w = vec4<f32>(wh[wb], wh[wb + 1u], wh[wb + 2u], 0.0);
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += h[hrow[r] + k] * w;
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
    }
    let f = lp.acts[d * 3u];
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
        let xb = (((d * lp.steps + t) * B + b) * H + j) * 3u;
        let a = total[r];
        let z = activate(f, clip_gate(lp, xp[xb] + a.x));
        let rg = activate(f, clip_gate(lp, xp[xb + 1u] + a.y));
        let n = activate(lp.acts[d * 3u + 1u], clip_gate(lp, xp[xb + 2u] + rg * (a.z + bh[d * H + j])));
        let hv = (1.0 - z) * n + z * h[h_cur + j];
        h[h_nxt + j] = hv;
        y[((t * B + b) * lp.dirs + d) * H + j] = hv;
    }
}
