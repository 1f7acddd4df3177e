// Dropout masks from a counter-based hash: the mask of element i of dropout site `site` at the
// optimizer step in `dp`. train/dropout.rs is the CPU twin: the same hash, the same masks.
// Sites: a layer's output (dropout between layers) is site `layer`; the recurrent mask of layer
// l, direction d is site RECURRENT_SITES + 2l + d, element b * H_out + k.

// Keep in sync with `gpu::train::params::DropoutParams` (Rust; a test compares the layouts).
struct DropoutParams {
    seed_lo: u32,
    seed_hi: u32,
    step: u32,
    threshold: u32,     // p·2³² of the dropout between layers
    scale: f32,         // 1 / (1 - p)
    rec_threshold: u32, // the same for recurrent dropout
    rec_scale: f32,
    flags: u32,         // FLAG_DROP_RECURRENT
}

// Chris Wellons' lowbias32.
fn hash(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    return x ^ (x >> 16u);
}

// `scale` where element i of `site` is kept at the step, else 0.
fn drop_mask(threshold: u32, scale: f32, site: u32, i: u32) -> f32 {
    let key = hash(hash(hash(hash(dp.seed_lo) ^ dp.seed_hi) ^ dp.step) ^ site);
    return select(0.0, scale, hash(key ^ i) >= threshold);
}

// The recurrent mask of input k of row b of layer `layer`, direction d (1 without recurrent
// dropout).
fn recurrent_mask(layer: u32, d: u32, b: u32, width: u32, k: u32) -> f32 {
    if ((dp.flags & FLAG_DROP_RECURRENT) == 0u) {
        return 1.0;
    }
    return drop_mask(dp.rec_threshold, dp.rec_scale, RECURRENT_SITES + 2u * layer + d, b * width + k);
}

// recurrent_mask of inputs k .. k + 3 of row b.
fn recurrent_mask_inputs(layer: u32, d: u32, b: u32, width: u32, k: u32) -> vec4<f32> {
    return vec4<f32>(
        recurrent_mask(layer, d, b, width, k),
        recurrent_mask(layer, d, b, width, k + 1u),
        recurrent_mask(layer, d, b, width, k + 2u),
        recurrent_mask(layer, d, b, width, k + 3u),
    );
}

// recurrent_mask for the four rows of a TRAIN_ROWS quad.
fn recurrent_mask_quad(layer: u32, d: u32, rows: vec4<u32>, width: u32, k: u32) -> vec4<f32> {
    return vec4<f32>(
        recurrent_mask(layer, d, rows.x, width, k),
        recurrent_mask(layer, d, rows.y, width, k),
        recurrent_mask(layer, d, rows.z, width, k),
        recurrent_mask(layer, d, rows.w, width, k),
    );
}
