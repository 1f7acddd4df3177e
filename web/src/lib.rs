//! wgpu-rnn in a browser, on WebGPU: the functions the page (`www/index.html`) calls.
//!
//! - [`open_engine`]: the engine on the browser's WebGPU adapter (or an error saying what
//!   would give one);
//! - [`check_case`] / [`summary`]: the conformance suite, one case file at a time, with the same
//!   checks and lines as `wgpu-rnn check` ([`wgpu_rnn::case::check`]);
//! - [`load_demo`] / [`demo_step`]: text sampled from a small character-level LSTM trained by
//!   `examples/char_rnn`, one forward call per character; the page draws each step's hidden
//!   state into a canvas.
//!
//! Every call is async (the blocking API does not exist on wasm32); errors come back as
//! rejected promises whose value is the error's message.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wgpu_rnn::case::check;
use wgpu_rnn::random::Rng;
use wgpu_rnn::train::TrainModel;
use wgpu_rnn::{Cell, Engine, Inputs, Model};

thread_local! {
    /// The engine the page opened (one per page).
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The demo's model and sampling state.
    static DEMO: RefCell<Option<Rc<RefCell<Demo>>>> = const { RefCell::new(None) };
}

fn engine() -> Result<Engine, JsValue> {
    ENGINE.with(|e| e.borrow().clone()).ok_or_else(|| JsValue::from_str("no engine: call open_engine first"))
}

/// Opens the engine on the browser's WebGPU adapter and describes the adapter (name, backend,
/// device type, driver). Rejects with a message naming what would work when the browser offers
/// no WebGPU adapter.
#[wasm_bindgen]
pub async fn open_engine() -> Result<String, JsValue> {
    let engine = Engine::gpu_async().await.map_err(|e| JsValue::from_str(&e.to_string()))?;
    let ctx = engine.context().ok_or_else(|| JsValue::from_str("the engine has no GPU"))?;
    let a = &ctx.adapter;
    let mut about = vec![a.backend.clone(), a.device_type.clone()];
    if !a.driver.is_empty() {
        about.push(format!("driver {}", a.driver));
    }
    about.push(format!("{:?} kernels", ctx.build));
    let described =
        format!("{}({})", if a.name.is_empty() { String::new() } else { format!("{} ", a.name) }, about.join(", "));
    ENGINE.with(|e| *e.borrow_mut() = Some(engine));
    Ok(described)
}

/// Checks one case file (its name, for the kind and the line, and its bytes) on the WebGPU
/// engine and on the CPU reference; resolves to the line `wgpu-rnn check` prints for it
/// (`PASS …` or `FAIL …`).
#[wasm_bindgen]
pub async fn check_case(file_name: String, bytes: Vec<u8>) -> Result<String, JsValue> {
    let engine = engine()?;
    let name = file_name.rsplit('/').next().unwrap_or(&file_name);
    let stem = name.strip_suffix(".safetensors").or_else(|| name.strip_suffix(".onnx")).unwrap_or(name);
    let result = check::check_bytes(&engine, &file_name, &bytes).await;
    Ok(check::line(stem, &result))
}

/// The summary line after all cases, as `wgpu-rnn check` prints it.
#[wasm_bindgen]
pub fn summary(passed: usize, failed: usize) -> String {
    check::summary(passed, failed)
}

/// The demo: a character-level model and where its sampling is.
struct Demo {
    model: Rc<Model>,
    trained: TrainModel,
    chars: Vec<char>,
    /// The characters fed next (the prompt, then each sampled one).
    feed: Vec<usize>,
    h: Option<Vec<f32>>,
    c: Option<Vec<f32>>,
    rng: Rng,
}

/// Loads the demo's model: the safetensors `examples/char_rnn` writes and its `char_rnn.json`
/// (the vocabulary), and sets the prompt. Rejects with a message naming what is wrong with a
/// file that does not load.
#[wasm_bindgen]
pub fn load_demo(model: Vec<u8>, vocab_json: String, prompt: String, seed: u64) -> Result<String, JsValue> {
    let err = |e: String| JsValue::from_str(&e);
    let engine = engine()?;
    let (trained, _) = TrainModel::from_bytes(&model, "the demo's model").map_err(|e| err(e.to_string()))?;
    let meta: serde_json::Value =
        serde_json::from_str(&vocab_json).map_err(|e| err(format!("the demo's vocabulary: {e}")))?;
    let chars: Vec<char> = meta["vocab"]
        .as_str()
        .ok_or_else(|| err("the demo's vocabulary has no `vocab` string".into()))?
        .chars()
        .collect();
    let emb = trained.embedding.as_ref().ok_or_else(|| err("the demo's model has no embedding".into()))?;
    if emb.vocab != chars.len() || trained.head.outputs != chars.len() {
        return Err(err(format!("the model has {} tokens, the vocabulary {} characters", emb.vocab, chars.len())));
    }
    let feed = prompt
        .chars()
        .map(|c| chars.iter().position(|&v| v == c).ok_or_else(|| err(format!("{c:?} is not in the vocabulary"))))
        .collect::<Result<Vec<_>, _>>()?;
    if feed.is_empty() {
        return Err(err("the prompt is empty".into()));
    }
    let model = engine.load(trained.stack.clone()).map_err(|e| err(e.to_string()))?;
    let about = format!(
        "{} {} layer(s) of {}, {} characters",
        trained.stack.cell().name().to_uppercase(),
        trained.stack.layers.len(),
        trained.stack.output_size(),
        chars.len()
    );
    let demo = Demo { model: Rc::new(model), trained, chars, feed, h: None, c: None, rng: Rng::new(seed) };
    DEMO.with(|d| *d.borrow_mut() = Some(Rc::new(RefCell::new(demo))));
    Ok(about)
}

/// One sampling step: a forward call over the characters fed since the last step (the prompt
/// first, then one character), the head on the last output, and a character drawn from
/// softmax(logits / temperature). Resolves to `{ text, h }`: the character and the stack's
/// hidden state after it (for the canvas).
#[wasm_bindgen]
pub async fn demo_step(temperature: f32) -> Result<JsValue, JsValue> {
    let demo = DEMO.with(|d| d.borrow().clone()).ok_or_else(|| JsValue::from_str("no demo: call load_demo first"))?;
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(JsValue::from_str(&format!("temperature {temperature} must be a number > 0")));
    }
    let (model, inputs, lstm) = {
        let d = demo.borrow();
        let emb = d.trained.embedding.as_ref().expect("checked by load_demo");
        let x = emb.rows(&d.feed);
        let inp = Inputs { x, steps: d.feed.len(), batch: 1, lengths: None, h0: d.h.clone(), c0: d.c.clone() };
        (d.model.clone(), inp, d.trained.stack.cell() == Cell::Lstm)
    };
    // no borrow of the demo is held while the GPU works
    let out = model.forward_async(&inputs).await.map_err(|e| JsValue::from_str(&e.to_string()))?;
    let mut d = demo.borrow_mut();
    let w = d.trained.head.inputs;
    let last = &out.y[(inputs.steps - 1) * w..][..w];
    let logits = d.trained.head.apply(last);
    let next = d.rng.draw(&logits, temperature);
    d.feed = vec![next];
    d.h = Some(out.h_n.clone());
    d.c = if lstm { out.c_n } else { None };
    let result = js_sys::Object::new();
    js_sys::Reflect::set(&result, &"text".into(), &d.chars[next].to_string().into())?;
    js_sys::Reflect::set(&result, &"h".into(), &js_sys::Float32Array::from(&out.h_n[..]).into())?;
    js_sys::Reflect::set(&result, &"dispatches".into(), &(out.dispatches as u32).into())?;
    Ok(result.into())
}

/// Calls of every blocking form, which do not exist on wasm32: building with the feature
/// `blocking-probe` must fail (`blocking_absent.sh`).
#[cfg(feature = "blocking-probe")]
pub fn blocking_probe(
    model: &Model,
    inp: &Inputs,
    stream: &wgpu_rnn::gpu::Stream,
    trainer: &mut wgpu_rnn::train::Trainer,
    batch: &wgpu_rnn::train::Batch,
) {
    let _ = Engine::new();
    let _ = Engine::gpu();
    let _ = model.forward(inp);
    let _ = stream.push(&[], 0, None);
    let _ = trainer.step(batch);
    let _ = trainer.evaluate(batch);
}
