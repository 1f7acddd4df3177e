//! A stream runs 100 000 steps with flat memory. Alone in its test binary, so that the process's
//! resident memory measures this test only.

mod common;

use wgpu_rnn::gpu::ChunkInput;
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::{Cell, Model};

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("linux");
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).expect("rss pages") * 4
}

#[test]
fn soak_100k_steps_with_flat_memory() {
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 4, 16), 8, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    let Model::Gpu(gpu) = &model else { panic!("gpu") };
    let ctx = gpu.context();
    let (slots, k) = (4, 100);
    let stream = model.stream(slots).expect("stream");
    let x = random::inputs(&net, k, slots, 1, false, false).x;
    let mut baseline = 0;
    let chunks = 100_000 / k;
    for i in 0..chunks {
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        stream.encode_chunk(&mut encoder, ChunkInput::Host(&x), k, None, None).expect("records");
        ctx.queue.submit([encoder.finish()]);
        if i % 20 == 19 {
            ctx.device.poll(wgpu::PollType::wait_indefinitely()).expect("poll");
        }
        if i == chunks / 5 {
            baseline = rss_kib();
        }
    }
    ctx.device.poll(wgpu::PollType::wait_indefinitely()).expect("poll");
    let end = rss_kib();
    assert!(end < baseline + 16 * 1024, "memory grew from {baseline} KiB to {end} KiB over 100 000 steps");
    let st = stream.read_state(0).expect("state");
    assert!(st.h.iter().all(|v| v.is_finite()));
}
