// lstm_step_split: lstm_step (same bindings, same end) for small batches on adapters with
// subgroups. A workgroup of 64 owns one hidden unit j and ROWS batch rows: its invocations split
// the recurrent dot products over k, reduce them with subgroupAdd, combine the subgroups' sums
// through workgroup memory, and invocation 0 applies the gates. A GPU then runs H*64 invocations
// per step instead of H, which is what small batches need.
// Versions (pipeline constant ROWS): 1 or 4 batch rows per workgroup.

// Bindings, lstm_finish and the state access come from lstm_step.wgsl (kernels.rs puts that file
// first in this module).

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
    let HI = lp.hidden_in;
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, SPLIT_ROWS>;
    for (var k0 = 0u; k0 < HI; k0 += SPLIT) {
        let k = k0 + li;
        if (k < HI) {
            let w = wh[blocked_unit(d, HI, H, j) + k * UNIT_BLOCK];
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += h_load(hrow[r] + k) * w;
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
    }
    var sums: array<vec4<f32>, MAX_ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        sums[r] = total[r];
    }
    lstm_finish(d, j, b0, sums);
}
