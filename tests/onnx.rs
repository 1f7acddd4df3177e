//! ONNX model files: stacks that `torch.onnx.export` made (tests/data/onnx/export.py) load as
//! the same network as their PyTorch `state_dict` (the weights bit for bit), run on the GPU to
//! torch's outputs, and graphs the importer cannot take are errors naming the node.

mod common;

use std::path::{Path, PathBuf};

use prost::Message;
use wgpu_rnn::case::Case;
use wgpu_rnn::onnx::{OnnxModel, OutputLayout, proto};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

/// (name, batch-first, initial states given as graph inputs)
const MODELS: [(&str, bool, bool); 6] = [
    ("lstm_2layer_bidi_batchfirst", true, false),
    ("gru_2layer", false, false),
    ("rnn_relu_bidi_batchfirst", true, false),
    ("lstm_1layer", false, false),
    ("lstm_2layer_bidi_h0c0", false, true),
    ("gru_2layer_h0_batchfirst", true, true),
];

#[test]
fn exported_stacks_load_as_their_state_dict_and_run_to_torchs_outputs() {
    for (name, batch_first, given) in MODELS {
        let model = OnnxModel::load(&dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let case = Case::load(&dir().join(format!("{name}.safetensors"))).expect("the state_dict case loads");
        assert_eq!(model.network, case.network, "{name}: the same layers and weights as the state_dict");
        assert_eq!(model.batch_first, batch_first, "{name}");
        assert_eq!(model.h0.as_deref(), given.then_some("h0"), "{name}: the initial state's graph input");
        assert_eq!(model.c0.as_deref(), (given && name.starts_with("lstm")).then_some("c0"), "{name}");
        assert_eq!(case.inputs.h0.is_some(), given, "{name}: the case gives the same states");
        assert_eq!(model.input, "input");
        assert_eq!(model.y, Some(("output".to_string(), OutputLayout::Merged)), "{name}");
        assert_eq!(model.h_n.as_deref(), Some("h_n"));
        assert_eq!(model.c_n.is_some(), name.starts_with("lstm"), "{name}");
        assert!(model.producer.contains("pytorch"), "{name}: {}", model.producer);
        let out = common::gpu().load(model.network.clone()).expect("loads").forward(&case.inputs).expect("runs");
        assert!(out.dispatches > 0, "{name}: ran on the GPU");
        let cmp = case.compare(&out);
        assert!(cmp.len() >= 2 && cmp.iter().all(|c| c.passed()), "{name}: {cmp:?}");
    }
}

/// A model's bytes with `edit` applied to its graph.
fn edited(name: &str, edit: impl FnOnce(&mut proto::GraphProto)) -> Vec<u8> {
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).unwrap();
    let mut m = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    edit(m.graph.as_mut().unwrap());
    m.encode_to_vec()
}

#[test]
fn graphs_the_importer_cannot_take_are_errors_naming_the_node() {
    let err = |bytes: Vec<u8>| OnnxModel::parse(&bytes).expect_err("refused").to_string();
    // an op outside the recurrent stack's glue
    let e = err(edited("gru_2layer", |g| {
        let n = g.node.iter_mut().find(|n| matches!(n.op_type.as_str(), "Squeeze" | "Transpose" | "Concat")).unwrap();
        n.op_type = "Softmax".into();
        n.name = "/the_softmax".into();
    }));
    assert!(e.contains("`/the_softmax`") && e.contains("Softmax") && e.contains("not supported"), "{e}");
    // weights that are not constants
    let e = err(edited("lstm_1layer", |g| {
        let w = g.node.iter().find(|n| n.op_type == "LSTM").unwrap().input[1].clone();
        g.initializer.retain(|t| t.name != w);
    }));
    assert!(e.contains("W") && e.contains("not an initializer"), "{e}");
    // a non-zero initial state
    let e = err(edited("gru_2layer", |g| {
        let n = g.node.iter().position(|n| n.op_type == "GRU").unwrap();
        let w = g.node[n].input[1].clone();
        g.node[n].input.resize(6, String::new());
        g.node[n].input[5] = w;
    }));
    assert!(e.contains("initial_h") && e.contains("neither zero nor rows 0..1"), "{e}");
    // a layer reading another layer's rows of h0
    let e = err(edited("lstm_2layer_bidi_h0c0", |g| {
        let slices: Vec<usize> = (0..g.node.len()).filter(|&i| g.node[i].op_type == "Slice").collect();
        // the exporter slices h0 and c0 per layer in order: layer 0's h0, c0, then layer 1's
        let first = g.node[slices[0]].input.clone();
        g.node[slices[2]].input = first; // layer 1 reads layer 0's rows of h0
    }));
    assert!(e.contains("rows 2..4"), "{e}");
    // truncated and random bytes
    let bytes = std::fs::read(dir().join("lstm_1layer.onnx")).unwrap();
    let e = OnnxModel::parse(&bytes[..bytes.len() / 2]).expect_err("truncated").to_string();
    assert!(e.contains("not an ONNX model") || e.contains("onnx"), "{e}");
    assert!(OnnxModel::parse(b"\x08\x07garbage").is_err());
    assert!(OnnxModel::parse(&[]).is_err(), "an empty file has no graph");
    // a tensor whose dims claim more than its data
    let e = err(edited("lstm_1layer", |g| {
        let w = g.node.iter().find(|n| n.op_type == "LSTM").unwrap().input[2].clone();
        let t = g.initializer.iter_mut().find(|t| t.name == w).unwrap();
        t.dims = vec![1 << 40, 1 << 20];
    }));
    assert!(e.contains("values for dims") || e.contains("overflow"), "{e}");
}

/// What `wgpu-rnn run` does: the inputs under the graph's input name (batch-first here), the
/// outputs under its output names and in its layout, equal to torch's.
#[test]
fn a_model_runs_on_named_tensors_and_gives_named_outputs() {
    for (name, _, _) in MODELS {
        let m = OnnxModel::load(&dir().join(format!("{name}.onnx"))).expect("loads");
        let file = wgpu_rnn::tensor::TensorFile::read(&dir().join(format!("{name}.safetensors"))).unwrap();
        let inp = m.inputs(&file).expect("inputs by the graph's names");
        let out = common::gpu().load(m.network.clone()).unwrap().forward(&inp).unwrap();
        let written = m.outputs(&out, inp.steps, inp.batch);
        for (k, t) in &written.floats {
            let want = file.float(k).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.shape, want.shape, "{name} {k}: torch's layout");
            let worst = t.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{name} {k}: differs from torch by {worst}");
        }
        assert_eq!(written.floats.len(), if name.starts_with("lstm") { 3 } else { 2 }, "{name}");
    }
    // the wrong width is an error naming the tensor and the layout
    let m = OnnxModel::load(&dir().join("gru_2layer.onnx")).unwrap();
    let mut f = wgpu_rnn::tensor::TensorFile::default();
    f.floats.insert("input".into(), wgpu_rnn::tensor::Tensor { shape: vec![4, 3, 2], data: vec![0.0; 24] });
    let e = m.inputs(&f).expect_err("width 2, not 5").to_string();
    assert!(e.contains("input") && e.contains("[T, B, 5]"), "{e}");
    let e = m.inputs(&wgpu_rnn::tensor::TensorFile::default()).expect_err("no input").to_string();
    assert!(e.contains("input"), "{e}");
}
