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
    // pipelines (up to 8). Creating the engine compiles nothing and succeeds; the first model
    // that needs such a kernel gets wgpu's validation error back as a value naming the kernel
    // and the limit, not a panic.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).expect("adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: wgpu::Limits::downlevel_defaults(),
        ..Default::default()
    }))
    .expect("device");
    let engine = Engine::from_wgpu(device, queue).expect("creating an engine compiles nothing");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let case = Case::load(&dir.join("lstm_forward_s1.safetensors")).expect("loads");
    match engine.load(case.network.clone()).and_then(|m| m.forward(&case.inputs)) {
        Err(
            e @ wgpu_rnn::Error::Gpu {
                source: wgpu_rnn::error::GpuFault::Scope(wgpu::Error::Validation { .. }), ..
            },
        ) => {
            let msg = format!("{e}");
            assert!(
                msg.contains("of wgpu-rnn.") || msg.contains("kernel wgpu-rnn."),
                "the error names the kernel: {msg}"
            );
            assert!(msg.to_lowercase().contains("storage"), "the error names the limit: {msg}");
        }
        other => panic!("expected a GPU validation error, got {other:?}"),
    }
}

/// A lost device is `Error::DeviceLost` on every later call, never a GPU error or a hang: an
/// engine on its own device hears it from the device's lost callback; one on the host's device
/// hears it from the host (`GpuContext::note_device_lost`).
#[test]
fn a_lost_device_is_reported_as_lost() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let case = Case::load(&dir.join("lstm_forward_s1.safetensors")).expect("loads");
    let is_lost = |r: wgpu_rnn::Result<wgpu_rnn::Outputs>| matches!(r, Err(wgpu_rnn::Error::DeviceLost { .. }));

    let own = Engine::gpu().expect("an adapter");
    let model = own.load(case.network.clone()).expect("loads");
    model.forward(&case.inputs).expect("runs before the loss");
    // a stream and a trainer on the same engine, working before the loss
    let stream = model.stream(2).expect("a stream");
    let x = vec![0.5f32; 2 * stream.input_width()];
    stream.push(&x, 1, None).expect("a chunk before the loss");
    let train_model =
        wgpu_rnn::train::TrainModel::new(case.network.clone(), None, 2, wgpu_rnn::train::HeadMode::Last, 1)
            .expect("a model");
    let cfg = wgpu_rnn::train::TrainConfig {
        loss: wgpu_rnn::train::LossKind::Mse,
        optimizer: wgpu_rnn::train::Optimizer::sgd(0.1),
        clip_norm: None,
        clip_value: None,
        dropout: Default::default(),
    };
    let mut trainer = wgpu_rnn::train::Trainer::new(&own, train_model, cfg).expect("a trainer");
    let batch = wgpu_rnn::train::Batch {
        inputs: wgpu_rnn::train::BatchInputs::Features(case.inputs.x.clone()),
        steps: case.inputs.steps,
        batch: case.inputs.batch,
        lengths: None,
        targets: wgpu_rnn::train::Targets::Values(vec![0.25; 2 * case.inputs.batch]),
        source: None,
    };
    trainer.step(&batch).expect("a step before the loss");
    own.context().expect("GPU").device.destroy();
    let first = model.forward(&case.inputs);
    assert!(
        matches!(&first, Err(wgpu_rnn::Error::DeviceLost { reason, .. }) if reason.contains("Destroyed")),
        "{first:?}"
    );
    assert!(is_lost(model.forward(&case.inputs)), "and on every call after");
    assert!(is_lost(pollster::block_on(model.forward_async(&case.inputs))), "the async form too");
    assert!(matches!(own.load(case.network.clone()), Err(wgpu_rnn::Error::DeviceLost { .. })), "loading too");
    let chunk = stream.push(&x, 1, None);
    assert!(matches!(chunk, Err(wgpu_rnn::Error::DeviceLost { .. })), "a stream's chunk: {chunk:?}");
    let step = trainer.step(&batch);
    assert!(matches!(step, Err(wgpu_rnn::Error::DeviceLost { .. })), "a training step: {step:?}");
    assert!(matches!(trainer.model(), Err(wgpu_rnn::Error::DeviceLost { .. })), "reading the trained model back");
    let step = pollster::block_on(trainer.step_async(&batch));
    assert!(matches!(step, Err(wgpu_rnn::Error::DeviceLost { .. })), "an async training step: {step:?}");
    let chunk = pollster::block_on(stream.push_async(&x, 1, None));
    assert!(matches!(chunk, Err(wgpu_rnn::Error::DeviceLost { .. })), "an async chunk: {chunk:?}");

    let (device, queue) = host_device();
    let hosted = Engine::from_wgpu(device, queue).expect("engine");
    let model = hosted.load(case.network.clone()).expect("loads");
    model.forward(&case.inputs).expect("runs before the loss");
    hosted.context().expect("GPU").note_device_lost("the host's lost callback ran");
    let err = model.forward(&case.inputs).expect_err("lost");
    assert!(err.to_string().contains("the host's lost callback ran"), "{err}");
}

/// Training within WebGPU's default limits (what a browser grants without asking for more):
/// every training kernel fits, and a step gives what it gives on the engine's own device.
#[test]
fn trains_on_the_hosts_device_with_default_limits() {
    use wgpu_rnn::case::TrainCase;
    let (device, queue) = host_device();
    let engine = Engine::from_wgpu(device, queue).expect("an engine");
    for path in common::data_files("train") {
        let case = TrainCase::load(&path).expect("loads");
        let mut on_host = wgpu_rnn::train::Trainer::new(&engine, case.model.clone(), case.config).expect("trainer");
        let mut own = wgpu_rnn::train::Trainer::new(common::gpu(), case.model.clone(), case.config).expect("trainer");
        for batch in &case.batches {
            let got = on_host.step(batch).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(got, own.step(batch).expect("step"), "{}", path.display());
        }
    }
}

/// A model bigger than the device allows is `Error::TooLarge` naming the limit and by how much,
/// at load time (its weights) and for a batch whose buffers are over it.
#[test]
fn a_model_over_the_devices_limits_names_the_limit() {
    use wgpu_rnn::Cell;
    use wgpu_rnn::random::{self, RandomConfig};
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).expect("adapter");
    let max = 1u64 << 20;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: wgpu::Limits { max_storage_buffer_binding_size: max, ..Default::default() },
        ..Default::default()
    }))
    .expect("device");
    let engine = Engine::from_wgpu(device, queue).expect("an engine");
    // LSTM H=512: R is [4H, H] floats, 4 MiB
    let big = random::network(&RandomConfig::simple(Cell::Lstm, 8, 512), 1, |s| s);
    let e = engine.load(big).expect_err("weights over the binding limit");
    let msg = e.to_string();
    assert!(matches!(e, wgpu_rnn::Error::TooLarge(_)), "{msg}");
    for word in ["max_storage_buffer_binding_size", "maxStorageBufferBindingSize", &format!("of {max}"), "over"] {
        assert!(msg.contains(word), "`{msg}` should mention `{word}`");
    }
    // a small model fits; a batch whose activations are over the limit does not
    let small = random::network(&RandomConfig::simple(Cell::Gru, 4, 16), 1, |s| s);
    let model = engine.load(small.clone()).expect("fits");
    assert!(model.forward(&random::inputs(&small, 3, 2, 1, false, false)).is_ok());
    let e = model.forward(&random::inputs(&small, 2000, 64, 1, false, false)).expect_err("over");
    assert!(
        matches!(e, wgpu_rnn::Error::TooLarge(_)) && e.to_string().contains("max_storage_buffer_binding_size"),
        "{e}"
    );
}
