// Split-K reduction shared by the *_step_split kernels: a workgroup of SPLIT invocations each
// hold partial dot products for ROWS batch rows; subgroupAdd sums each subgroup, the subgroups'
// sums meet in workgroup memory, and invocation 0 gets the totals. Call from uniform control flow.
const SPLIT: u32 = STEP_WORKGROUP; // a split kernel's workgroup: 64 invocations
// [invocation][row]: a subgroup's sum, written by its first lane (zeros elsewhere)
var<workgroup> partial: array<array<vec4<f32>, ROWS>, SPLIT>;

fn split_reduce(acc: array<vec4<f32>, ROWS>, li: u32, lane: u32) -> array<vec4<f32>, ROWS> {
    for (var r = 0u; r < ROWS; r++) {
        let sum = subgroupAdd(acc[r]);
        partial[li][r] = select(vec4<f32>(0.0), sum, lane == 0u);
    }
    workgroupBarrier();
    var total: array<vec4<f32>, ROWS>;
    if (li == 0u) {
        for (var r = 0u; r < ROWS; r++) {
            for (var i = 0u; i < SPLIT; i++) {
                total[r] += partial[i][r];
            }
        }
    }
    return total;
}
