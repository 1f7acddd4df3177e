//! The agents example's GPU loop (observe, LSTM stream step, act, draw), driven entirely through
//! a host-created device, queue, encoders and buffers, matches the CPU reference.

#[path = "../examples/agents/sim.rs"]
mod sim;

use sim::{AgentsConfig, GpuAgents};
use wgpu_rnn::Engine;

#[test]
fn agents_follow_the_cpu_reference_without_readback() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("an adapter (lavapipe in CI)");
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).expect("device");
    let engine = Engine::from_wgpu(device.clone(), queue.clone()).expect("engine on the host's device");
    let cfg = AgentsConfig { agents: 1000, hidden: 64, seed: 11 };
    let model = engine.load(sim::controller(&cfg)).expect("loads");
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let mut agents = GpuAgents::new(&device, &model, cfg, format).expect("sets up");
    let target = GpuAgents::target(&device, 64, format);
    let view = target.create_view(&Default::default());
    let start = agents.read_positions(&device, &queue).expect("reads");
    let frames = 25;
    for _ in 0..frames {
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        agents.encode_frame(&queue, &mut encoder).expect("records");
        agents.encode_draw(&mut encoder, &view);
        queue.submit([encoder.finish()]);
    }
    let gpu = agents.read_positions(&device, &queue).expect("reads");
    let cpu = sim::cpu_reference(&cfg, frames);
    let moved = gpu.iter().zip(&start).filter(|(a, b)| a != b).count();
    assert!(moved > 900, "the LSTM outputs move the agents ({moved} of 1000 moved)");
    let worst = gpu.iter().zip(&cpu).map(|(g, c)| (g[0] - c[0]).abs().max((g[1] - c[1]).abs())).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "positions after {frames} frames differ from the CPU reference by {worst}");
}
