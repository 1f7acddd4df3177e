// gru_step: one time step of a GRU layer (ONNX gates z, r, h), both directions in one dispatch.
//   xp:      [D, T, B, H, 3]  x·Wᵀ + Wb (+ Rb of z, r; + Rbh when linear_before_reset = 0)
//   wh:      [D, H, H, 3]     R pre-transposed, gates interleaved per hidden unit
//   bh:      [D, H]           Rbh, used by linear_before_reset = 1 only
//   h:       [2, D, B, H]     ping-pong halves: step s reads half s&1, writes the other
//   scratch: [D, B, H, 2]     (z, r ⊙ h) handed from gru_gates to gru_candidate
//   y:       [T, B, D, H]
// Versions:
//   gru_step:      linear_before_reset = 1, fully fused: n = g(xh + r ⊙ (h·Rhᵀ + Rbh)).
//   gru_gates:     linear_before_reset = 0, phase 1: z and r ⊙ h for every unit.
//   gru_candidate: linear_before_reset = 0, phase 2: n = g(xh + (r ⊙ h)·Rhᵀ), then h'.
//   (Phase 2 needs r of every unit, so reset-before GRU costs two dispatches per step.)

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<f32>;
@group(0) @binding(4) var<storage, read> bh: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;

struct Unit {
    j: u32,
    b: u32,
    d: u32,
    s: u32,
    len: u32,
    h_cur: u32,
    h_nxt: u32,
}

fn unit_of(gid: vec3<u32>) -> Unit {
    let s = sp.step;
    let b = gid.y;
    let d = gid.z;
    let base = d * lp.batch + b;
    return Unit(gid.x, b, d, s, lens[b],
                ((s & 1u) * lp.dirs * lp.batch + base) * lp.hidden,
                (((s + 1u) & 1u) * lp.dirs * lp.batch + base) * lp.hidden);
}

fn in_range(gid: vec3<u32>) -> bool {
    return gid.x < lp.hidden && gid.y < lp.batch && gid.z < lp.dirs;
}

fn xp_base(u: Unit, t: u32) -> u32 {
    return (((u.d * lp.steps + t) * lp.batch + u.b) * lp.hidden + u.j) * 3u;
}

fn finish(u: Unit, t: u32, z: f32, n: f32) {
    let hv = (1.0 - z) * n + z * h[u.h_cur + u.j];
    h[u.h_nxt + u.j] = hv;
    y[((t * lp.batch + u.b) * lp.dirs + u.d) * lp.hidden + u.j] = hv;
}

@compute @workgroup_size(64, 1, 1)
fn gru_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!in_range(gid)) {
        return;
    }
    let u = unit_of(gid);
    if (u.s >= u.len) {
        h[u.h_nxt + u.j] = h[u.h_cur + u.j];
        return;
    }
    let H = lp.hidden;
    let t = time_index(lp, u.d, u.s, u.len);
    var acc = vec3<f32>(0.0);
    for (var k = 0u; k < H; k++) {
        let wb = ((u.d * H + k) * H + u.j) * 3u;
        acc += h[u.h_cur + k] * vec3<f32>(wh[wb], wh[wb + 1u], wh[wb + 2u]);
    }
    let xb = xp_base(u, t);
    let f = lp.acts[u.d * 3u];
    let z = activate(f, clip_gate(lp, xp[xb] + acc.x));
    let r = activate(f, clip_gate(lp, xp[xb + 1u] + acc.y));
    let n = activate(lp.acts[u.d * 3u + 1u], clip_gate(lp, xp[xb + 2u] + r * (acc.z + bh[u.d * H + u.j])));
    finish(u, t, z, n);
}

@compute @workgroup_size(64, 1, 1)
fn gru_gates(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!in_range(gid)) {
        return;
    }
    let u = unit_of(gid);
    if (u.s >= u.len) {
        return;
    }
    let H = lp.hidden;
    let t = time_index(lp, u.d, u.s, u.len);
    var acc = vec2<f32>(0.0);
    for (var k = 0u; k < H; k++) {
        let wb = ((u.d * H + k) * H + u.j) * 3u;
        acc += h[u.h_cur + k] * vec2<f32>(wh[wb], wh[wb + 1u]);
    }
    let xb = xp_base(u, t);
    let f = lp.acts[u.d * 3u];
    let z = activate(f, clip_gate(lp, xp[xb] + acc.x));
    let r = activate(f, clip_gate(lp, xp[xb + 1u] + acc.y));
    let sb = ((u.d * lp.batch + u.b) * H + u.j) * 2u;
    scratch[sb] = z;
    scratch[sb + 1u] = r * h[u.h_cur + u.j];
}

@compute @workgroup_size(64, 1, 1)
fn gru_candidate(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!in_range(gid)) {
        return;
    }
    let u = unit_of(gid);
    if (u.s >= u.len) {
        h[u.h_nxt + u.j] = h[u.h_cur + u.j];
        return;
    }
    let H = lp.hidden;
    let t = time_index(lp, u.d, u.s, u.len);
    let row = (u.d * lp.batch + u.b) * H;
    var acc = 0.0;
    for (var k = 0u; k < H; k++) {
        acc += scratch[(row + k) * 2u + 1u] * wh[((u.d * H + k) * H + u.j) * 3u + 2u];
    }
    let n = activate(lp.acts[u.d * 3u + 1u], clip_gate(lp, xp[xp_base(u, t) + 2u] + acc));
    finish(u, t, scratch[(row + u.j) * 2u], n);
}
