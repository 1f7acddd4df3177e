//! Streams: state on the GPU across chunks. Feeding a sequence in chunks gives the whole
//! sequence's result, for every cell and stack; slots can be masked, reset, read and written;
//! inputs and outputs can be the host's buffers; memory stays flat over 100 000 steps.

mod common;

use wgpu_rnn::gpu::{ChunkInput, SlotState};
use wgpu_rnn::plan::StepVariant;
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::{Cell, Direction, Model, Network};

fn nets() -> Vec<(String, Network)> {
    let mut v = Vec::new();
    for (cell, layers, proj, lbr, peep, hidden) in [
        (Cell::Rnn, 1, 0, false, false, 17),
        (Cell::Rnn, 3, 0, false, false, 130),
        (Cell::Gru, 1, 0, false, false, 33),
        (Cell::Gru, 2, 0, true, false, 65),
        (Cell::Gru, 2, 0, false, false, 130),
        (Cell::Lstm, 1, 0, false, true, 33),
        (Cell::Lstm, 2, 5, false, false, 17),
        (Cell::Lstm, 2, 0, false, false, 130),
    ] {
        let cfg = RandomConfig { layers, proj_size: proj, peepholes: peep, ..RandomConfig::simple(cell, 3, hidden) };
        let net = random::network(&cfg, hidden as u64, |mut s| {
            s.linear_before_reset = lbr;
            s
        });
        v.push((format!("{cell:?} L={layers} H={hidden} proj={proj} lbr={lbr} peep={peep}"), net));
    }
    v
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Rows `t0..t0+k` of a time-major `[T, N, W]` array.
fn steps(x: &[f32], t0: usize, k: usize, row: usize) -> &[f32] {
    &x[t0 * row..(t0 + k) * row]
}

#[test]
fn chunks_equal_the_whole_sequence_for_every_cell_and_stack() {
    let (t, n) = (23, 3);
    for (label, net) in nets() {
        let whole_inputs = random::inputs(&net, t, n, 9, false, false);
        let reference = wgpu_rnn::cpu::forward(&net, &whole_inputs).expect("cpu");
        let probe = common::gpu().load(net.clone()).expect("loads");
        for variant in StepVariant::ALL.into_iter().filter(|&v| probe.supports_variant(v)) {
            let mut model = common::gpu().load(net.clone()).expect("loads");
            model.set_variant(Some(variant)).expect("supported");
            let whole = model.forward(&whole_inputs).expect("runs");
            let stream = model.stream(n).expect("stream");
            let (iw, ow) = (n * net.input_size(), n * net.output_size());
            let mut y = Vec::new();
            let mut t0 = 0;
            for k in [1, 3, 2, 5, 1, 4, 7].into_iter().cycle() {
                let k = k.min(t - t0);
                y.extend(stream.push(steps(&whole_inputs.x, t0, k, iw / n * n), k, None).expect("chunk"));
                t0 += k;
                if t0 == t {
                    break;
                }
            }
            assert!(
                max_diff(&y, &whole.y) < 1e-5,
                "{label} {variant:?}: chunked y differs from whole by {}",
                max_diff(&y, &whole.y)
            );
            assert!(max_diff(&y, &reference.y) < 1e-4, "{label} {variant:?}: differs from the CPU reference");
            let o = net.output_size();
            for slot in 0..n {
                let st = stream.read_state(slot).expect("state");
                for l in 0..net.layers.len() {
                    let want = &whole.h_n[(l * n + slot) * o..][..o];
                    assert!(max_diff(&st.h[l * o..(l + 1) * o], want) < 1e-5, "{label}: h of slot {slot} layer {l}");
                }
                if let (Some(c), Some(cn)) = (&st.c, &whole.c_n) {
                    let h = net.layers[0].spec.hidden_size;
                    for l in 0..net.layers.len() {
                        assert!(max_diff(&c[l * h..(l + 1) * h], &cn[(l * n + slot) * h..][..h]) < 1e-5, "{label}: c");
                    }
                }
            }
            let _ = ow;
        }
    }
}

#[test]
fn masked_slots_keep_their_state_and_output_zeros() {
    let net = random::network(&RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Lstm, 4, 9) }, 3, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    let stream = model.stream(4).expect("stream");
    let x = random::inputs(&net, 6, 4, 1, false, false).x;
    stream.push(&x[..3 * 4 * 4], 3, None).expect("chunk");
    let before = stream.read_state(2).expect("state");
    let y = stream.push(&x[3 * 16..], 3, Some(&[true, true, false, true])).expect("chunk");
    assert_eq!(stream.read_state(2).expect("state"), before, "a masked slot's state must not change");
    for t in 0..3 {
        assert!(y[(t * 4 + 2) * 9..][..9].iter().all(|&v| v == 0.0), "a masked slot outputs zeros");
        assert!(y[(t * 4 + 1) * 9..][..9].iter().any(|&v| v != 0.0));
    }
    // slot 2 resumes where it stopped: same as a fresh stream fed only slot 2's first half
    let single = model.stream(1).expect("stream");
    let slot2: Vec<f32> = (0..3).flat_map(|t| x[(t * 4 + 2) * 4..][..4].to_vec()).collect();
    single.push(&slot2, 3, None).expect("chunk");
    assert_eq!(single.read_state(0).expect("state"), before);
}

#[test]
fn reset_and_written_state_behave_like_fresh_and_initial_states() {
    let net = random::network(&RandomConfig::simple(Cell::Gru, 3, 12), 4, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    let stream = model.stream(2).expect("stream");
    let inputs = random::inputs(&net, 5, 2, 2, false, true);
    stream.push(&inputs.x, 5, None).expect("chunk");
    stream.reset(&[1]).expect("reset");
    assert!(stream.read_state(1).expect("state").h.iter().all(|&v| v == 0.0));
    assert!(stream.read_state(0).expect("state").h.iter().any(|&v| v != 0.0), "reset touches only its slots");
    // written state = initial state of a whole-sequence call
    let h0 = inputs.h0.clone().expect("h0");
    for slot in 0..2 {
        stream.write_state(slot, &SlotState { h: h0[slot * 12..(slot + 1) * 12].to_vec(), c: None }).expect("write");
    }
    let y = stream.push(&inputs.x, 5, None).expect("chunk");
    let whole = model.forward(&inputs).expect("runs");
    assert!(max_diff(&y, &whole.y) < 1e-5);
    assert!(stream.write_state(0, &SlotState { h: vec![0.0; 3], c: None }).is_err());
    assert!(stream.write_state(0, &SlotState { h: vec![0.0; 12], c: Some(vec![0.0; 12]) }).is_err(), "GRU has no c");
    // a non-finite state is refused, as a chunk's x is, and the slot keeps its state
    let kept = stream.read_state(0).expect("state");
    let mut h = kept.h.clone();
    h[7] = f32::NAN;
    let e = stream.write_state(0, &SlotState { h, c: None }).expect_err("NaN state");
    assert!(e.to_string().contains("non-finite value at index 7"), "{e}");
    assert_eq!(stream.read_state(0).expect("state"), kept);
    assert!(stream.read_state(2).is_err());
    assert!(stream.reset(&[7]).is_err());
}

#[test]
fn host_buffers_in_and_out_without_cpu_copies() {
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 5, 16), 6, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    let ctx = match &model {
        Model::Gpu(g) => g.context(),
        Model::Cpu(_) => panic!("gpu"),
    };
    let (device, queue) = (&ctx.device, &ctx.queue);
    let stream = model.stream(3).expect("stream");
    let inputs = random::inputs(&net, 4, 3, 3, false, false);
    // the host's input buffer (filled here with write_buffer; a host shader would do the same)
    let host_in = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host input"),
        size: 64 + (inputs.x.len() * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&host_in, 64, bytemuck::cast_slice(&inputs.x));
    let host_out = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host output"),
        size: (4 * 3 * 16 * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("host frame") });
    let out = stream
        .encode_chunk(&mut encoder, ChunkInput::Buffer { buffer: &host_in, offset: 64 }, 4, None, Some((&host_out, 0)))
        .expect("records");
    assert!(out.dispatches >= 2);
    let pending = wgpu_rnn::gpu::PendingRead::start(device, queue, encoder, &host_out, host_out.size());
    let mut got = None;
    for _ in 0..10_000 {
        if let Some(r) = pending.try_take() {
            got = Some(r.expect("mapped"));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let got = got.expect("the non-blocking readback completes");
    let whole = model.forward(&inputs).expect("runs");
    assert!(max_diff(&got, &whole.y) < 1e-5);
    // the future form
    let pending = stream.push_pending(&inputs.x, 4, None).expect("chunk");
    let _ = device.poll(wgpu::PollType::wait_indefinitely());
    let y2 = pollster::block_on(pending).expect("future resolves");
    assert_eq!(y2.len(), 4 * 3 * 16);
    // bad host buffers are errors
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    assert!(
        stream.encode_chunk(&mut encoder, ChunkInput::Buffer { buffer: &host_in, offset: 128 }, 4, None, None).is_err()
    );
    assert!(stream.encode_chunk(&mut encoder, ChunkInput::Host(&inputs.x), 4, None, Some((&host_out, 4))).is_err());
}

#[test]
fn bidirectional_layers_cannot_stream() {
    let net = random::network(
        &RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(Cell::Gru, 3, 4) },
        1,
        |s| s,
    );
    let model = common::gpu().load(net).expect("loads");
    let err = model.stream(2).expect_err("bidirectional");
    assert!(err.to_string().contains("bidirectional"), "{err}");
    let net = random::network(&RandomConfig::simple(Cell::Gru, 3, 4), 1, |s| s);
    assert!(common::gpu().load(net).expect("loads").stream(0).is_err());
}

#[test]
fn several_models_and_streams_share_one_device() {
    let lstm = random::network(&RandomConfig::simple(Cell::Lstm, 3, 20), 1, |s| s);
    let gru = random::network(&RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Gru, 3, 140) }, 2, |s| s);
    let (ml, mg) = (common::gpu().load(lstm.clone()).expect("loads"), common::gpu().load(gru.clone()).expect("loads"));
    let streams =
        [ml.stream(2).expect("s"), ml.stream(3).expect("s"), mg.stream(2).expect("s"), mg.stream(1).expect("s")];
    let nets = [&lstm, &lstm, &gru, &gru];
    let inputs: Vec<_> = streams
        .iter()
        .zip(nets)
        .enumerate()
        .map(|(i, (s, n))| random::inputs(n, 6, s.slots(), i as u64, false, false))
        .collect();
    let mut outs: Vec<Vec<f32>> = vec![Vec::new(); 4];
    // interleave chunks of all four streams on the one device
    for t in 0..6 {
        for (i, s) in streams.iter().enumerate() {
            let row = s.slots() * 3;
            outs[i].extend(s.push(&inputs[i].x[t * row..(t + 1) * row], 1, None).expect("chunk"));
        }
    }
    for i in 0..4 {
        let whole = wgpu_rnn::cpu::forward(nets[i], &inputs[i]).expect("cpu");
        assert!(max_diff(&outs[i], &whole.y) < 1e-4, "stream {i} was disturbed by the others");
    }
}

#[test]
fn a_timed_chunk_from_a_gpu_buffer_runs_the_whole_sequence() {
    use wgpu::util::DeviceExt;
    let (t, n) = (9, 3);
    let (_, net) = nets().into_iter().find(|(l, _)| l.starts_with("Lstm L=2 H=130")).expect("net");
    let inputs = random::inputs(&net, t, n, 4, false, false);
    let reference = wgpu_rnn::cpu::forward(&net, &inputs).expect("cpu");
    let model = common::gpu().load(net.clone()).expect("loads");
    let stream = model.stream(n).expect("stream");
    let device = &common::gpu().context().expect("a GPU engine").device;
    let x = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("test.x"),
        contents: bytemuck::cast_slice(&inputs.x),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    });
    let timing = stream.time_chunk(&x, t).expect("timed");
    assert!(timing.wall_ms > 0.0);
    assert_eq!(timing.dispatches, 2 * (t + 1), "two layers of T + 1 dispatches: the GPU path ran");
    // the chunk took x from the buffer: each slot's state is the whole sequence's final state
    let (l, o) = (net.layers.len(), net.output_size());
    for slot in 0..n {
        let state = stream.read_state(slot).expect("state");
        let want: Vec<f32> =
            (0..l).flat_map(|k| reference.h_n[(k * n + slot) * o..(k * n + slot + 1) * o].to_vec()).collect();
        assert!(max_diff(&state.h, &want) < 1e-5, "slot {slot}: h differs by {}", max_diff(&state.h, &want));
    }
    let zeros = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("test.short"),
        size: 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    assert!(stream.time_chunk(&zeros, t).is_err(), "a buffer too small for the chunk is an error");
}
