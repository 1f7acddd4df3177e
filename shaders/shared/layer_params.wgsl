// Per-layer constants of the step kernels, and the per-step index (read at a dynamic offset).
// Keep in sync with `gpu::params::LayerParams` and `StepParams` (Rust; a test compares the
// layouts). The FLAG_* bits come from Rust (gpu::params, in the prelude kernels.rs writes).
// uses: shared/activations

struct LayerParams {
    steps: u32,        // T
    batch: u32,        // B
    hidden: u32,       // H: cell width
    hidden_in: u32,    // H_out: width of h (the projection size, or H)
    dirs: u32,         // D (a wavefront stack's layers: FLAG_WAVE)
    reverse_mask: u32, // bit d set when direction slot d scans time backwards
    flags: u32,        // FLAG_*
    clip: f32,
    acts: array<Act, 6>, // [d * 3 + slot]: f, g, h of each direction (act_index)
}

struct StepParams {
    step: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

fn clip_gate(lp: LayerParams, x: f32) -> f32 {
    if ((lp.flags & FLAG_CLIP) != 0u) {
        return clamp(x, -lp.clip, lp.clip);
    }
    return x;
}

// Index in `acts` of activation `slot` (f, g, h) of direction slot d: a wavefront stack's layers
// share the first direction's (their specs are equal: plan NetShape::stackable). Index the
// uniform itself (`lp.acts[act_index(lp.flags, d, slot)]`): a function that took the struct
// would copy the array, and a copy indexed at run time goes to memory.
fn act_index(flags: u32, d: u32, slot: u32) -> u32 {
    return select(d, 0u, (flags & FLAG_WAVE) != 0u) * 3u + slot;
}

// Time index of step `s` for direction `d` of a sequence of length `len` (s < len).
fn time_index(lp: LayerParams, d: u32, s: u32, len: u32) -> u32 {
    let rev = ((lp.reverse_mask >> d) & 1u) == 1u;
    return select(s, len - 1u - s, rev);
}
