// Batch tiling of the step kernels: each invocation computes its hidden unit for ROWS batch rows
// (b0 .. b0+ROWS), so every weight it loads serves ROWS rows. ROWS is a constant of each
// pipeline's module (the prelude kernels.rs writes; 1: one row per invocation; 4, 8 and 16:
// tiled), and sizes the tile's arrays. Then which time step each row takes (row_step), in a
// layer or in a wavefront stack. Needs the kernel's `lp`, `sp` and `lens`.
// uses: shared/layer_params

// Batch row `r` of the tile starting at `b0`, clamped into the batch (reads only).
fn tile_row(b0: u32, r: u32) -> u32 {
    return min(b0 + r, lp.batch - 1u);
}

// Offset of batch row b's state (width lp.hidden_in) in either half of h (h_cur, h_next).
fn state_row(d: u32, b: u32) -> u32 {
    return (d * lp.batch + b) * lp.hidden_in;
}

// The tile's rows' state offsets (rows past the batch clamped).
fn tile_state_rows(d: u32, b0: u32) -> array<u32, ROWS> {
    var rows: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        rows[r] = state_row(d, tile_row(b0, r));
    }
    return rows;
}

// Wavefront stacks (plan.rs `Plan::stacked`, FLAG_WAVE): the direction slots d < lp.dirs are the
// layers of a stack that scans one way, and step s runs layer d at its own step s - d (layers
// outside their steps hold their state). Its input at that step, layer d-1's output, is what
// slot d-1 of h_cur holds, so layers above the first take no input projection: the step adds
// h_cur[d-1]·W_dᵀ (weights after the layers' recurrent ones, `input_weights`) and reads the
// folded bias from xp (`xp_row`). Only the last layer writes y.
fn is_wave() -> bool {
    return (lp.flags & FLAG_WAVE) != 0u;
}

// Whether slot d's step adds an input product from slot d-1's h (a stack's layers above the first).
fn stacked_input(d: u32) -> bool {
    return is_wave() && d > 0u;
}

// The weight direction of that input product (packed like the recurrent weights, K = H_in).
fn input_weights(d: u32) -> u32 {
    return lp.dirs + d - 1u;
}

// Row of xp [D, T, B] holding the gate inputs of direction d, time t, batch row b (times the
// gate count per unit and H for an index). A stack's layer d >= 1 reads its folded bias, which
// the plan copies after layer 0's T*B rows.
fn xp_row(d: u32, t: u32, b: u32) -> u32 {
    if (stacked_input(d)) {
        return lp.steps * lp.batch + d - 1u;
    }
    return (d * lp.steps + t) * lp.batch + b;
}

// Whether direction d writes y (in a stack only the last layer does).
fn writes_y(d: u32) -> bool {
    return !is_wave() || d + 1u == lp.dirs;
}

// Where row b's output at time t starts in y [T, B, D, H_in] ([T, B, H_in] for a stack).
fn y_row(d: u32, t: u32, b: u32) -> u32 {
    if (is_wave()) {
        return (t * lp.batch + b) * lp.hidden_in;
    }
    return ((t * lp.batch + b) * lp.dirs + d) * lp.hidden_in;
}

// What this step does with batch row b of direction d: whether its sequence is still running,
// the time index it reaches, and where its state is (in h_cur, read, and h_next, written).
struct RowStep {
    running: bool,
    t: u32,
    row: u32,
}

fn row_step(d: u32, b: u32) -> RowStep {
    let wave = is_wave();
    let started = !wave || sp.step >= d;
    let s = select(sp.step, sp.step - d, wave && started); // the layer's own step in a stack
    let len = lens[b];
    let running = started && s < len;
    let t = time_index(lp, select(d, 0u, wave), s, len);
    return RowStep(running, select(0u, t, running), state_row(d, b));
}
