import test from "node:test";
import assert from "node:assert/strict";
import { setupDom, FakeModel } from "./helpers.mjs";

const { default: widget, resample, toInt16, levelDb, micProblem, drawTake, viewWindow, TARGET_RATE } =
  await import("../../slt_widgets/widgets/static/recorder.js");

function sine(freq, rate, seconds, amp = 0.5) {
  const x = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < x.length; i++) x[i] = amp * Math.sin(2 * Math.PI * freq * i / rate);
  return x;
}
function rms(x, a = 0, b = x.length) {
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / (b - a));
}

test("resample 48 kHz → 16 kHz keeps a 1 kHz tone and its length, removes a 12 kHz tone", () => {
  const y = resample(sine(1000, 48000, 0.5), 48000);
  assert.equal(y.length, 8000);
  const mid = rms(y, 1000, 7000);
  assert.ok(Math.abs(mid - 0.5 / Math.SQRT2) < 0.01, `1 kHz rms ${mid}`);
  // the tone's phase at 16 kHz: sample i is sin(2π·1000·i/16000)
  for (const i of [2000, 3001, 5555]) assert.ok(Math.abs(y[i] - 0.5 * Math.sin(2 * Math.PI * 1000 * i / 16000)) < 0.01);
  const alias = resample(sine(12000, 48000, 0.5), 48000);
  assert.ok(rms(alias, 1000, 7000) < 0.01, `12 kHz leaks ${rms(alias, 1000, 7000)}`);
});

test("resample from 44.1 kHz and identity at 16 kHz", () => {
  const y = resample(sine(440, 44100, 1.0), 44100);
  assert.equal(y.length, 16000);
  assert.ok(Math.abs(rms(y, 1000, 15000) - 0.5 / Math.SQRT2) < 0.01);
  const x = sine(300, 16000, 0.1);
  assert.deepEqual(Array.from(resample(x, 16000)), Array.from(x));
  assert.throws(() => resample(x, 0), /rates must be positive/);
});

test("toInt16 rounds and clips, levelDb reads full scale as 0 dB", () => {
  assert.deepEqual(Array.from(toInt16(Float32Array.from([0, 0.5, -1, 1.5, -2]))), [0, 16384, -32767, 32767, -32768]);
  assert.ok(Math.abs(levelDb(Float32Array.from([1, -1, 1, -1]))) < 1e-9);
  assert.equal(levelDb(new Float32Array(64)), -100);
});

test("microphone errors say what happened and what to do", () => {
  assert.equal(micProblem({ name: "NotAllowedError" })[0], "denied");
  assert.match(micProblem({ name: "NotAllowedError" })[1], /blocked.*Allow the microphone/);
  assert.equal(micProblem({ name: "NotFoundError" })[0], "no-device");
  assert.match(micProblem({ name: "NotFoundError" })[1], /No microphone/);
  assert.equal(micProblem({ name: "NotReadableError" })[0], "error");
  assert.match(micProblem(new Error("odd"))[1], /could not be opened: odd/);
});

function canvasCalls(dom) {
  const calls = [];
  dom.window.HTMLCanvasElement.prototype.getContext = function () {
    const rec = (name) => (...a) => calls.push([name, ...a]);
    return { clearRect: rec("clearRect"), fillRect: rec("fillRect"), fillText: rec("fillText"), font: "",
      textAlign: "", textBaseline: "", fillStyle: "" };
  };
  return calls;
}

function makeModel(extra = {}) {
  return new FakeModel({ sentences: ["The cat sat.", "A dog ran."], text: "The cat sat.", speaker: "you",
    max_seconds: 30, audio: null, take: 0, take_text: "", mic_state: "", message: "", message_kind: "info",
    busy: false, utterances: [], last_segments: [], error: "", ...extra });
}

test("renders the controls; messages are text, never HTML; the picker fills the sentence", () => {
  const dom = setupDom();
  canvasCalls(dom);
  const el = document.getElementById("out");
  const model = makeModel();
  const cleanup = widget.render({ model, el });
  const root = el.querySelector(".slt-recorder");
  for (const sel of [".slt-rec-text", ".slt-rec-pick", ".slt-rec-record", ".slt-rec-stop", ".slt-rec-play",
    ".slt-rec-meter-fill", "canvas.slt-rec-wave", ".slt-rec-status", ".slt-rec-takes"]) assert.ok(root.querySelector(sel), sel);
  assert.equal(root.querySelector(".slt-rec-text").value, "The cat sat.");
  assert.equal(root.querySelector(".slt-rec-stop").disabled, true);
  assert.equal(root.querySelector(".slt-rec-play").disabled, true);
  assert.equal(root.querySelectorAll(".slt-rec-pick option").length, 3);
  model.set("message", "<img src=x onerror=alert(1)> Added");
  model.set("message_kind", "ok");
  const st = root.querySelector(".slt-rec-status");
  assert.equal(st.textContent, "<img src=x onerror=alert(1)> Added");
  assert.equal(st.querySelector("img"), null);
  assert.equal(st.dataset.kind, "ok");
  model.set("utterances", [{ name: "you take 1", seconds: 2.5, n_frames: 248, text: "<b>x</b>" }]);
  assert.equal(root.querySelector(".slt-rec-takes li").textContent, "you take 1 — 2.5 s, 248 frames: <b>x</b>");
  const pick = root.querySelector(".slt-rec-pick");
  pick.value = "1";
  pick.dispatchEvent(new dom.window.Event("change"));
  assert.equal(model.get("text"), "A dog ran.");
  assert.equal(root.querySelector(".slt-rec-text").value, "A dog ran.");
  model.set("busy", true);
  assert.equal(st.textContent, "Aligning…");
  assert.equal(root.querySelector(".slt-rec-record").disabled, true);
  cleanup();
  assert.equal(model.nHandlers(), 0);
  assert.equal(el.children.length, 0);
});

test("without navigator.mediaDevices Record explains that the page must be secure", async () => {
  const dom = setupDom();
  canvasCalls(dom);
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true });
  el.querySelector(".slt-rec-record").click();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(model.get("mic_state"), "unsupported");
  assert.match(el.querySelector(".slt-rec-mic-error").textContent, /https:\/\/ pages or on http:\/\/localhost/);
});

test("a denied microphone sets mic_state and shows the fix", async () => {
  const dom = setupDom();
  canvasCalls(dom);
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  const err = Object.assign(new Error("Permission denied"), { name: "NotAllowedError" });
  Object.defineProperty(globalThis, "navigator", { value: { mediaDevices: { getUserMedia: async () => { throw err; } } },
    configurable: true });
  el.querySelector(".slt-rec-record").click();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(model.get("mic_state"), "denied");
  assert.match(el.querySelector(".slt-rec-mic-error").textContent, /Microphone access was blocked/);
  assert.equal(model.get("take"), 0);
});

test("drawTake zooms on the speech and labels only the phones wide enough", () => {
  const dom = setupDom();
  const calls = canvasCalls(dom);
  const canvas = document.createElement("canvas");
  canvas.width = 200; canvas.height = 110;
  const wave = sine(200, TARGET_RATE, 2.0, 0.8);
  const segs = [[0, 0.5, "SIL"], [0.5, 0.9, "AA"], [0.9, 0.92, "T"], [0.92, 1.35, "S"], [1.35, 2.0, "SIL"]];
  assert.deepEqual(viewWindow(2.0, segs), [0.35, 1.5]);
  assert.deepEqual(viewWindow(2.0, [[0, 2, "SIL"]]), [0, 2.0]);
  drawTake(canvas, wave, segs, { wave: "#00f", box: "#ddd", text: "#000" });
  const texts = calls.filter((c) => c[0] === "fillText");
  assert.deepEqual(texts.map((c) => c[1]), ["AA", "S"]);       // T is 3.5 px wide: boxed, not labelled
  // AA spans 0.5–0.9 s of the 0.35–1.5 s window: centred at 0.7 s → x = 0.35 / 1.15 * 200
  assert.ok(Math.abs(texts[0][2] - (0.35 / 1.15) * 200) < 1e-6);
  assert.equal(calls.filter((c) => c[0] === "fillRect").length, 200 + 3);
  calls.length = 0;
  drawTake(canvas, null, [], { wave: "#00f", box: "#ddd", text: "#000" });
  assert.deepEqual(calls.filter((c) => c[0] === "fillText").map((c) => c[1]), ["your take and its phones appear here"]);
});
