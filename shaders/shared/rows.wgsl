// Batch tiling of the step kernels: each invocation computes its hidden unit for ROWS batch rows
// (b0 .. b0+ROWS), so every weight it loads serves ROWS rows. ROWS is a constant of each
// pipeline's module (kernels.rs `Kernel::source`; 1: one row per invocation, the baseline
// version; 4, 8 and 16: tiled versions), and sizes the tile's arrays.

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

// What this step does with batch row b of direction d: whether its sequence is still running,
// the time index it reaches, and where its state is (in h_cur, read, and h_next, written).
struct RowStep {
    running: bool,
    t: u32,
    row: u32,
}

fn row_step(d: u32, b: u32) -> RowStep {
    let s = sp.step;
    let len = lens[b];
    let running = s < len;
    return RowStep(running, select(0u, time_index(lp, d, s, len), running), state_row(d, b));
}
