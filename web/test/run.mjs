// The browser test: serves web/www, opens it in Debian's Chromium (headless) on WebGPU through
// SwiftShader's Vulkan, waits for the conformance suite's summary line, and fails unless every
// case passed on the WebGPU adapter and the demo drew into its canvas. Saves a screenshot.
//
//   node web/test/run.mjs [--out DIR] [--cases SET] [--timeout SECONDS]
//
// Chromium: CHROMIUM=/path (default /usr/bin/chromium). WEBGPU_ARGS below are the flags that give
// WebGPU without a GPU; the others keep a headless run off the network and out of the sandbox it
// cannot have as root.
import { chromium } from "playwright-core";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { serve } from "./serve.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const out = path.resolve(arg("--out", path.join(here, "..", "..", "target", "web-test")));
const only = arg("--cases", "");
const timeoutS = Number(arg("--timeout", "1500"));
const port = 8000 + Math.floor(Math.random() * 1000);

// WebGPU without a GPU: Chromium 156 on Linux gives SwiftShader's adapter with this flag alone
// (--enable-unsafe-swiftshader changed nothing there); without it, navigator.gpu exists but has
// no adapter, which the bad-input run below checks.
const WEBGPU_ARGS = ["--enable-unsafe-webgpu"];
const HEADLESS_ARGS = [
  "--no-sandbox",
  "--disable-gpu-sandbox",
  "--no-first-run",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function check(ok, message) {
  if (!ok) {
    console.error(`web test FAILED: ${message}`);
    process.exitCode = 1;
  }
  return ok;
}

fs.mkdirSync(out, { recursive: true });
const server = await serve(path.join(here, "..", "www"), port);
const launch = (webgpu) =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [...(webgpu ? WEBGPU_ARGS : []), ...HEADLESS_ARGS],
  });
const browser = await launch(true);
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  const started = Date.now();
  await page.goto(`http://127.0.0.1:${port}/${only ? `?cases=${only}` : ""}`);
  let last = "";
  // the summary line replaces "running… i of n" when the suite is done
  const done = /^(\d+) passed, (\d+) failed$|^not run/;
  while (!done.test(last)) {
    if (Date.now() - started > timeoutS * 1000) break;
    await page.waitForTimeout(2000);
    const now = (await page.textContent("#summary")).trim();
    if (now !== last) {
      process.stdout.write(`\r${now}          `);
      last = now;
    }
  }
  process.stdout.write("\n");
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const adapter = (await page.textContent("#adapter")).trim();
  const lines = (await page.textContent("#cases")).trim().split("\n").filter(Boolean);
  const error = (await page.textContent("#error")).trim();
  const stepTime = (await page.textContent("#step-time")).trim();
  const suiteTime = (await page.textContent("#suite-time")).trim();
  // the canvas: how many pixels are not the white background
  const inked = await page.evaluate(() => {
    const c = document.getElementById("canvas");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250)) n++;
    return { inked: n, total: c.width * c.height };
  });
  const text = (await page.textContent("#text")).trim();
  await page.screenshot({ path: path.join(out, "page.png"), fullPage: false });
  await page.locator("section").first().screenshot({ path: path.join(out, "demo.png") });
  fs.writeFileSync(path.join(out, "cases.txt"), lines.join("\n") + `\n${last}\n`);
  fs.writeFileSync(path.join(out, "console.txt"), consoleLines.join("\n") + "\n");
  const report = { adapter, summary: last, seconds, stepTime, suiteTime, canvas: inked, sampled: text.length };
  fs.writeFileSync(path.join(out, "report.json"), JSON.stringify(report, null, 2) + "\n");
  console.log(`adapter: ${adapter}`);
  console.log(`demo: ${text.length} characters, ${stepTime}; canvas ${inked.inked} of ${inked.total} pixels drawn`);
  console.log(`suite: ${last} (${suiteTime}); page done in ${seconds} s`);
  for (const l of lines.filter((l) => !l.startsWith("PASS "))) console.log(l);
  // where the suite's time goes: each line ends with its case's seconds, "[1.23 s]"
  const secs = (l) => Number((l.match(/\[([\d.]+) s\]$/) || [0, 0])[1]);
  const slowest = [...lines].sort((a, b) => secs(b) - secs(a)).slice(0, 5);
  console.log(`slowest cases:\n  ${slowest.join("\n  ")}`);

  check(!error, `the page shows an error: ${error}`);
  check(/BrowserWebGpu/.test(adapter), `the engine is not on the browser's WebGPU adapter: ${adapter}`);
  const m = last.match(/^(\d+) passed, (\d+) failed$/);
  if (check(m, `no summary line within ${timeoutS} s (last: "${last}")`)) {
    check(Number(m[2]) === 0, `${m[2]} case(s) failed`);
    check(Number(m[1]) > 0 && Number(m[1]) === lines.length, `${m[1]} passed of ${lines.length} lines`);
  }
  check(lines.every((l) => !l.startsWith("PASS ") || /gpu\+cpu|on the GPU/.test(l)), "a case passed without the GPU path");
  check(inked.inked > inked.total / 10, `the demo's canvas is blank (${inked.inked} pixels drawn)`);
  check(text.length > 100, `the demo sampled ${text.length} characters`);
  const thrown = consoleLines.filter((l) => /^(pageerror|error):/.test(l));
  check(thrown.length === 0, `the page logged ${thrown.length} error(s) to the console: ${thrown[0]}`);
  if (process.exitCode) console.log(`console:\n${consoleLines.slice(-30).join("\n")}`);
  console.log(`screenshots and lines in ${out}`);
  await badInput(browser);
} finally {
  await browser.close();
  server.close();
}

/// The page's error box after it settles at `url` (with `init` run before the page's scripts).
async function errorShown(b, url, init) {
  const page = await b.newPage();
  if (init) await page.addInitScript(init);
  await page.goto(`http://127.0.0.1:${port}/${url}`);
  const started = Date.now();
  while (Date.now() - started < 60000) {
    const summary = (await page.textContent("#summary")).trim();
    if (summary.startsWith("not run")) break;
    await page.waitForTimeout(500);
  }
  await page.waitForTimeout(500);
  const error = (await page.textContent("#error")).trim();
  const visible = await page.isVisible("#error");
  await page.close();
  return visible ? error : "";
}

/// A browser without WebGPU, one without an adapter, and a model file that does not load: each
/// gets a message on the page that says so.
async function badInput(withWebGpu) {
  const none = await errorShown(withWebGpu, "?cases=none", () => {
    delete Navigator.prototype.gpu;
  });
  check(/offers no WebGPU/.test(none) && /Chrome/.test(none), `no navigator.gpu: the page says "${none}"`);
  const noAdapterBrowser = await launch(false);
  try {
    const noAdapter = await errorShown(noAdapterBrowser, "?cases=none");
    check(
      /No WebGPU adapter/.test(noAdapter) && /--enable-unsafe-webgpu/.test(noAdapter),
      `no adapter: the page says "${noAdapter}"`,
    );
  } finally {
    await noAdapterBrowser.close();
  }
  const dir = path.join(here, "..", "www", "test-fixtures");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "broken.safetensors"), Buffer.from("\x10\x00\x00\x00\x00\x00\x00\x00{not a header}"));
  fs.writeFileSync(path.join(dir, "broken.json"), JSON.stringify({ vocab: "ab" }));
  try {
    const broken = await errorShown(withWebGpu, "?cases=none&model=test-fixtures/broken");
    check(/did not load/.test(broken) && /safetensors|header/i.test(broken), `a broken model: the page says "${broken}"`);
    const missing = await errorShown(withWebGpu, "?cases=none&model=test-fixtures/missing");
    check(/did not load/.test(missing) && /404/.test(missing), `a missing model: the page says "${missing}"`);
    console.log(`bad input: no WebGPU, no adapter, a broken and a missing model file each shown on the page`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
