// The page: opens the engine on WebGPU, runs the live demo, then the conformance suite.
// Every message a user needs (no WebGPU, a file that fails to load, a failing case) is shown on
// the page, not only in the console.
import init, { open_engine, check_case, summary, load_demo, demo_step } from "./pkg/wgpu_rnn_web.js";

const $ = (id) => document.getElementById(id);
const NO_WEBGPU =
  "This browser offers no WebGPU (navigator.gpu is missing), and wgpu-rnn runs its kernels on WebGPU. " +
  "It works in Chrome and Edge 113 or later, Safari 26, and Firefox 141 or later on Windows; " +
  "on Linux start Chrome with --enable-unsafe-webgpu (and, without a GPU, --enable-unsafe-swiftshader).";

function fail(message) {
  const e = $("error");
  e.hidden = false;
  e.textContent += (e.textContent ? "\n" : "") + message;
}

async function fetchOk(url, how) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${r.statusText}`);
  return how === "text" ? r.text() : new Uint8Array(await r.arrayBuffer());
}

// One column per character: the hidden state's units top to bottom, red > 0, blue < 0.
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const COLUMN = 4;
let column = 0;
function drawState(h) {
  const x = (column % (canvas.width / COLUMN)) * COLUMN;
  const cell = canvas.height / h.length;
  for (let i = 0; i < h.length; i++) {
    const v = Math.max(-1, Math.min(1, h[i]));
    const a = Math.round(255 * (1 - Math.abs(v)));
    ctx.fillStyle = v >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
    ctx.fillRect(x, i * cell, COLUMN, Math.ceil(cell));
  }
  column++;
}

const stepTimes = [];
async function sample(count) {
  const text = $("text");
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const step = await demo_step(0.7);
    stepTimes.push(performance.now() - t0);
    text.textContent += step.text;
    drawState(step.h);
  }
  const sorted = [...stepTimes].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  $("step-time").textContent =
    `median ${median.toFixed(2)} ms over ${sorted.length} steps (min ${sorted[0].toFixed(2)}, max ${sorted[sorted.length - 1].toFixed(2)})`;
}

async function demo() {
  const prompt = "MACBETH.\n";
  // ?model=PATH runs another model file (PATH.safetensors beside PATH.json)
  const name = new URLSearchParams(location.search).get("model") || "model/char_rnn";
  const [model, vocab] = await Promise.all([fetchOk(`${name}.safetensors`), fetchOk(`${name}.json`, "text")]);
  $("model").textContent = load_demo(model, vocab, prompt, 7n);
  $("text").textContent = prompt;
  await sample(200);
  $("more").disabled = false;
  $("more").onclick = async () => {
    $("more").disabled = true;
    await sample(200).catch((e) => fail(`demo: ${e}`));
    $("more").disabled = false;
  };
}

async function suite() {
  const params = new URLSearchParams(location.search);
  const only = params.get("cases"); // e.g. ?cases=conformance
  const index = JSON.parse(await fetchOk("cases/index.json", "text"));
  const files = index.files.filter((f) => !only || f.startsWith(only + "/"));
  if (files.length === 0) throw new Error(`no case files${only ? ` in the set "${only}"` : ""}`);
  const out = $("cases");
  let passed = 0, failed = 0;
  const t0 = performance.now();
  for (const file of files) {
    let line;
    const started = performance.now();
    try {
      line = await check_case(file, await fetchOk("cases/" + file));
    } catch (e) {
      line = `FAIL ${file}: ${e}`;
    }
    line += ` [${((performance.now() - started) / 1000).toFixed(2)} s]`;
    const ok = line.startsWith("PASS ");
    ok ? passed++ : failed++;
    const span = document.createElement("span");
    span.className = ok ? "pass" : "fail";
    span.textContent = line + "\n";
    out.appendChild(span);
    $("summary").textContent = `running… ${passed + failed} of ${files.length}`;
  }
  $("suite-time").textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s for ${files.length} files`;
  $("summary").textContent = summary(passed, failed);
  $("summary").className = "summary " + (failed === 0 && passed > 0 ? "pass" : "fail");
}

async function main() {
  if (!("gpu" in navigator)) {
    fail(NO_WEBGPU);
    $("adapter").textContent = "none";
    $("summary").textContent = "not run: no WebGPU";
    return;
  }
  await init();
  try {
    const engine = await open_engine();
    // WebGPU gives vendor and architecture rather than a name (SwiftShader: "google swiftshader")
    const info = (await navigator.gpu.requestAdapter())?.info;
    $("adapter").textContent = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ") + " " + engine;
  } catch (e) {
    fail(`No WebGPU adapter: ${e}`);
    $("adapter").textContent = "none";
    $("summary").textContent = "not run: no WebGPU adapter";
    return;
  }
  try {
    await demo();
  } catch (e) {
    fail(`The demo's model did not load or run: ${e}`);
  }
  await suite().catch((e) => {
    fail(`The conformance suite did not run: ${e}`);
    $("summary").textContent = "not run: " + e;
  });
}

main().catch((e) => fail(`wgpu-rnn failed to start: ${e}`));
