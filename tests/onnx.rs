//! ONNX model files: stacks that `torch.onnx.export` made (tests/data/onnx/export.py) load as
//! the same network as their PyTorch `state_dict` (the weights bit for bit), run on the GPU to
//! torch's outputs; single nodes with `layout = 1` or `sequence_lens` (tests/data/onnx/nodes.py)
//! run to ONNX Runtime's; graphs the importer cannot take are errors naming the node.

mod common;

use std::path::{Path, PathBuf};

use prost::Message;
use wgpu_rnn::case::Case;
use wgpu_rnn::onnx::{OnnxModel, OutputLayout, proto};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

/// (name, batch-first, initial states given as graph inputs); the last three merge their
/// directions by hand (tests/data/onnx/merges.py): sum, average and product.
const MODELS: [(&str, bool, bool); 9] = [
    ("lstm_2layer_bidi_batchfirst", true, false),
    ("gru_2layer", false, false),
    ("rnn_relu_bidi_batchfirst", true, false),
    ("lstm_1layer", false, false),
    ("lstm_2layer_bidi_h0c0", false, true),
    ("gru_2layer_h0_batchfirst", true, true),
    ("gru_bidi_sum", false, false),
    ("lstm_2stack_bidi_average", true, false),
    ("rnn_2stack_bidi_mul", false, false),
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

/// Single nodes PyTorch's exporter never writes (tests/data/onnx/nodes.py): (name, layout,
/// `sequence_lens` a graph input).
const NODES: [(&str, i64, bool); 4] = [
    ("lstm_layout1_bidi_seqlens", 1, true),
    ("gru_layout1_lbr_seqlens", 1, true),
    ("rnn_layout0_reverse_seqlens", 0, true),
    ("lstm_layout1_peephole", 1, false),
];

/// Each node loads as the network of its conformance case, reads the graph's named tensors in
/// its layout (the same inputs as the case loader makes of them), and writes Y, Y_h and Y_c in
/// its layout equal to ONNX Runtime's.
#[test]
fn single_nodes_with_layout_1_and_sequence_lens_run_to_onnx_runtimes_outputs() {
    for (name, layout, seqlens) in NODES {
        let model = OnnxModel::load(&dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let case = Case::load(&dir().join(format!("{name}.safetensors"))).expect("the case loads");
        assert_eq!(model.network, case.network, "{name}: the node's weights and attributes");
        assert_eq!((model.layout, model.batch_first), (layout, layout == 1), "{name}");
        assert_eq!(model.lengths.as_deref(), seqlens.then_some("sequence_lens"), "{name}");
        assert_eq!(model.y, Some(("Y".to_string(), OutputLayout::OnnxY)), "{name}");
        let file = wgpu_rnn::tensor::TensorFile::read(&dir().join(format!("{name}.safetensors"))).unwrap();
        let inp = model.inputs(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(inp.lengths.is_some(), seqlens, "{name}");
        assert_eq!(
            (&inp.x, &inp.lengths, &inp.h0, &inp.c0),
            (&case.inputs.x, &case.inputs.lengths, &case.inputs.h0, &case.inputs.c0),
            "{name}: the inputs the case loader makes"
        );
        let out = common::gpu().load(model.network.clone()).unwrap().forward(&inp).unwrap();
        assert!(out.dispatches > 0, "{name}: ran on the GPU");
        let written = model.outputs(&out, inp.steps, inp.batch);
        for (k, t) in &written.floats {
            let want = file.float(k).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.shape, want.shape, "{name} {k}: the node's layout");
            let worst = t.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{name} {k}: differs from ONNX Runtime by {worst}");
        }
        assert_eq!(written.floats.len(), if name.starts_with("lstm") { 3 } else { 2 }, "{name}");
    }
}

#[test]
fn layouts_and_lengths_the_importer_cannot_take_are_errors() {
    let err = |bytes: Vec<u8>| OnnxModel::parse(&bytes).expect_err("refused").to_string();
    let set_layout = |n: &mut proto::NodeProto, layout: i64| {
        n.attribute.retain(|a| a.name != "layout");
        n.attribute.push(proto::AttributeProto { name: "layout".into(), i: layout, ..Default::default() });
    };
    let e = err(edited("lstm_2layer_bidi_h0c0", |g| {
        g.node.iter_mut().filter(|n| n.op_type == "LSTM").for_each(|n| set_layout(n, 1));
    }));
    assert!(e.contains("layout 1") && e.contains("stack of 2"), "{e}");
    let e = err(edited("lstm_layout1_peephole", |g| set_layout(&mut g.node[0], 2)));
    assert!(e.contains("`lstm0`") && e.contains("layout 2"), "{e}");
    // lengths computed inside the graph (here: a constant)
    let e = err(edited("gru_layout1_lbr_seqlens", |g| {
        g.initializer.push(proto::TensorProto {
            name: "fixed_lengths".into(),
            dims: vec![3],
            data_type: 6,
            int32_data: vec![4, 4, 4],
            ..Default::default()
        });
        g.node[0].input[4] = "fixed_lengths".into();
    }));
    assert!(e.contains("sequence_lens") && e.contains("not a graph input"), "{e}");
    // the tensors a run reads: lengths the graph takes, and states in the node's layout
    let model = OnnxModel::load(&dir().join("lstm_layout1_bidi_seqlens.onnx")).unwrap();
    let file = wgpu_rnn::tensor::TensorFile::read(&dir().join("lstm_layout1_bidi_seqlens.safetensors")).unwrap();
    let mut no_lengths = file.clone();
    no_lengths.ints.remove("sequence_lens");
    let e = model.inputs(&no_lengths).expect_err("the graph takes lengths").to_string();
    assert!(e.contains("sequence_lens"), "{e}");
    let mut time_major = file.clone();
    let h = time_major.floats.get_mut("initial_h").unwrap();
    h.shape = vec![h.shape[1], h.shape[0], h.shape[2]]; // [D, B, H]: not this node's layout
    let e = model.inputs(&time_major).expect_err("[D, B, H] for a layout-1 node").to_string();
    assert!(e.contains("initial_h") && e.contains("[B, D, H]"), "{e}");
}

/// Directions merged by hand: the merge mode is the one the model wrote, and a graph whose
/// `Add`, `Mul` or `Div` is anything else, or that merges its layers in different ways, is an
/// error naming the node.
#[test]
fn merges_written_by_hand_are_read_and_anything_else_is_refused() {
    use wgpu_rnn::MergeMode;
    for (name, merge) in [
        ("gru_bidi_sum", MergeMode::Sum),
        ("lstm_2stack_bidi_average", MergeMode::Average),
        ("rnn_2stack_bidi_mul", MergeMode::Mul),
    ] {
        assert_eq!(OnnxModel::load(&dir().join(format!("{name}.onnx"))).unwrap().network.merge, merge, "{name}");
    }
    assert_eq!(OnnxModel::load(&dir().join("gru_2layer.onnx")).unwrap().network.merge, MergeMode::Concat);
    let err = |bytes: Vec<u8>| OnnxModel::parse(&bytes).expect_err("refused").to_string();
    let node = |g: &proto::GraphProto, name: &str| g.node.iter().position(|n| n.name == name).unwrap();
    // an Add of something else than the two halves: here the first half twice
    let e = err(edited("gru_bidi_sum", |g| {
        let add = node(g, "/Add");
        g.node[add].input[1] = g.node[add].input[0].clone();
    }));
    assert!(e.contains("`/Add`") && e.contains("two halves"), "{e}");
    // halves of the wrong width
    let e = err(edited("gru_bidi_sum", |g| {
        let slices: Vec<String> = g.node.iter().filter(|n| n.op_type == "Slice").map(|n| n.input[2].clone()).collect();
        let ends = g.node.iter_mut().find(|n| n.op_type == "Constant" && n.output[0] == slices[0]).unwrap();
        let t = ends.attribute[0].t.as_mut().unwrap();
        t.raw_data = 3i64.to_le_bytes().to_vec();
    }));
    assert!(e.contains("two halves"), "{e}");
    // a Div by something else than 2
    let e = err(edited("lstm_2stack_bidi_average", |g| {
        let div = node(g, "/Div");
        let two = g.node[div].input[1].clone();
        let c = g.node.iter_mut().find(|n| n.op_type == "Constant" && n.output[0] == two).unwrap();
        c.attribute[0].t.as_mut().unwrap().raw_data = 3.0f32.to_le_bytes().to_vec();
    }));
    assert!(e.contains("`/Div`"), "{e}");
    // layers merged two ways: the first average, the second sum (its Div bypassed)
    let e = err(edited("lstm_2stack_bidi_average", |g| {
        g.node.remove(node(g, "/Div_1"));
        g.node.iter_mut().find(|n| n.name == "/Add_1").unwrap().output[0] = "output".into();
    }));
    assert!(e.contains("Average") && e.contains("Sum") && e.contains("one way"), "{e}");
}
