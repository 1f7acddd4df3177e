//! The engine on a device the host application created, with WebGPU's default limits.

mod common;

use wgpu_rnn::Engine;
use wgpu_rnn::case::Case;

fn host_device() -> (wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("an adapter (lavapipe in CI)");
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).expect("a device")
}

#[test]
fn runs_on_the_hosts_device_with_default_limits() {
    let (device, queue) = host_device();
    assert_eq!(
        device.limits().max_storage_buffers_per_shader_stage,
        wgpu::Limits::default().max_storage_buffers_per_shader_stage
    );
    let engine = Engine::from_wgpu(device.clone(), queue).expect("pipelines build within default limits");
    assert!(engine.is_gpu());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    for name in [
        "lstm_peephole_bidi",
        "gru_lbr_bidi_seqlens",
        "torch_lstm_proj_2layer_bidi_packed",
        "torch_gru_bidi_sum",
        "rnn_layout1_bidi",
    ] {
        let case = Case::load(&dir.join(format!("{name}.safetensors"))).expect("loads");
        let out = engine.load(case.network.clone()).expect("loads").forward(&case.inputs).expect("runs");
        assert!(out.dispatches > 0);
        assert!(case.compare(&out).iter().all(|c| c.passed()), "{name}: {:?}", case.compare(&out));
    }
}

#[test]
fn wgpu_validation_errors_come_back_as_errors() {
    // A host device with downlevel limits (4 storage buffers per stage) cannot hold the engine's
    // pipelines (up to 8): wgpu's validation error must come back as a value, not a panic.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).expect("adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: wgpu::Limits::downlevel_defaults(),
        ..Default::default()
    }))
    .expect("device");
    match Engine::from_wgpu(device, queue) {
        Err(wgpu_rnn::Error::Gpu(msg)) => assert!(msg.contains("wgpu-rnn."), "the error names the object: {msg}"),
        other => panic!("expected a GPU validation error, got {other:?}"),
    }
}
