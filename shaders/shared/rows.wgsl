// Batch tiling of the step kernels: each invocation computes its hidden unit for ROWS batch rows
// (b0 .. b0+ROWS), so every weight it loads serves ROWS rows. ROWS is set per pipeline
// (1: one row per invocation, the baseline version; 4: the tiled version).
override ROWS: u32 = 1u;
const MAX_ROWS: u32 = 4u;

// Batch row `r` of the tile starting at `b0`, clamped into the batch (reads only).
fn tile_row(b0: u32, r: u32) -> u32 {
    return min(b0 + r, lp.batch - 1u);
}
