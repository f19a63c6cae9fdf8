// Recorder: microphone → 16 kHz int16 take → kernel (aligned there); level meter, playback, phone strip.
import { arrayToJson } from "./codec.js";
import { errorBanner, listenerSet } from "./dom.js";

export const TARGET_RATE = 16000;

/**
 * Resample mono samples to `to` Hz with a Hann-windowed sinc (low-pass at 94 % of the lower
 * Nyquist frequency, so 48 kHz input does not alias into the 0–8 kHz band the features use).
 * @param {Float32Array} x [n] @param {number} from input rate (Hz) @param {number} [to]
 * @returns {Float32Array} [floor(n * to / from)]
 */
export function resample(x, from, to = TARGET_RATE) {
  if (!(from > 0) || !(to > 0)) throw new RangeError(`resample: rates must be positive, got ${from} → ${to}`);
  if (from === to) return Float32Array.from(x);
  const ratio = from / to;
  const n = Math.floor(x.length / ratio);
  const fc = Math.min(1, to / from) * 0.94;      // cut-off as a fraction of the input Nyquist
  const half = Math.ceil(10 / fc);                // taps on each side, in input samples
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i * ratio;
    const k0 = Math.floor(t);
    let acc = 0;
    for (let k = k0 - half + 1; k <= k0 + half; k++) {
      if (k < 0 || k >= x.length) continue;
      const d = t - k;
      const u = d / half;
      if (u <= -1 || u >= 1) continue;
      const arg = Math.PI * fc * d;
      const sinc = arg === 0 ? 1 : Math.sin(arg) / arg;
      acc += x[k] * fc * sinc * (0.5 + 0.5 * Math.cos(Math.PI * u));
    }
    out[i] = acc;
  }
  return out;
}

/** Float samples in -1..1 → Int16Array (clipped, rounded). @param {Float32Array} x */
export function toInt16(x) {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(x[i] * 32767)));
  return out;
}

/** RMS level of a block in dBFS (−100 for silence). @param {Float32Array} x */
export function levelDb(x) {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  const rms = Math.sqrt(s / Math.max(1, x.length));
  return rms > 1e-5 ? 20 * Math.log10(rms) : -100;
}

/** The message for a failed getUserMedia: [mic_state, text]. @param {any} err */
export function micProblem(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return ["denied", "Microphone access was blocked. Allow the microphone for this page (the icon at the left " +
      "of the address bar, or the browser's site settings) and press Record again."];
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return ["no-device", "No microphone was found. Plug one in or choose it in the system's sound settings, " +
      "then press Record again."];
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return ["error", "The microphone could not be started (another program may be using it). Close that " +
      "program and press Record again."];
  }
  return ["error", `The microphone could not be opened: ${(err && err.message) || err}`];
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

/**
 * The time window [t0, t1] (s) to draw: the aligned speech ± 0.15 s, or the whole take.
 * @param {number} dur take length (s) @param {Array<[number, number, string]>} segments
 */
export function viewWindow(dur, segments) {
  const speech = (segments || []).filter((sg) => sg[2] !== "SIL");
  if (!speech.length) return [0, dur];
  return [Math.max(0, speech[0][0] - 0.15), Math.min(dur, speech[speech.length - 1][1] + 0.15)];
}

/** Draw the waveform [n] (16 kHz) and the phone segments [[s, e, label]] on a canvas. */
export function drawTake(canvas, wave, segments, colors) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const W = canvas.width, H = canvas.height, strip = 22, mid = (H - strip) / 2;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "10px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  if (!wave || !wave.length) {
    ctx.fillStyle = colors.text;
    ctx.fillText("your take and its phones appear here", W / 2, H / 2);
    return;
  }
  const [t0, t1] = viewWindow(wave.length / TARGET_RATE, segments);
  const a0 = Math.floor(t0 * TARGET_RATE), n = Math.max(1, Math.floor((t1 - t0) * TARGET_RATE));
  const x = (t) => ((t - t0) / (t1 - t0)) * W;
  ctx.fillStyle = colors.wave;
  const per = n / W;
  for (let px = 0; px < W; px++) {
    let lo = 0, hi = 0;
    const a = a0 + Math.floor(px * per), b = Math.min(wave.length, a0 + Math.floor((px + 1) * per) + 1);
    for (let i = a; i < b; i++) { const v = wave[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    ctx.fillRect(px, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
  }
  for (const [s, e, lab] of segments || []) {
    if (lab === "SIL" || e <= t0 || s >= t1) continue;
    const x0 = Math.max(0, x(s)), x1 = Math.min(W, x(e));
    ctx.fillStyle = colors.box;
    ctx.fillRect(x0, H - strip, Math.max(1, x1 - x0 - 1), strip);
    if (x1 - x0 > 11) {
      ctx.fillStyle = colors.text;
      ctx.fillText(String(lab), (x0 + x1) / 2, H - strip / 2);
    }
  }
}

function render({ model, el: root }) {
  const L = listenerSet();
  const box = el("div", "slt-recorder", root);
  el("div", "slt-rec-title", box, "Record a sentence");
  const row = el("div", "slt-rec-row", box);
  const input = el("input", "slt-rec-text", row);
  input.type = "text";
  input.placeholder = "Type the sentence you will read, or pick one";
  input.setAttribute("aria-label", "sentence to read");
  const pick = el("select", "slt-rec-pick", row);
  pick.setAttribute("aria-label", "pick a sentence");
  const controls = el("div", "slt-rec-row", box);
  const recBtn = el("button", "slt-rec-record", controls, "● Record");
  const stopBtn = el("button", "slt-rec-stop", controls, "■ Stop");
  const playBtn = el("button", "slt-rec-play", controls, "▶ Play");
  const meter = el("div", "slt-rec-meter", controls);
  const fill = el("div", "slt-rec-meter-fill", meter);
  const clock = el("span", "slt-rec-clock", controls, "0.0 s");
  meter.setAttribute("role", "meter");
  meter.setAttribute("aria-label", "input level");
  const micError = el("div", "slt-rec-mic-error", box);
  const canvas = el("canvas", "slt-rec-wave", box);
  const status = el("div", "slt-rec-status", box);
  const takes = el("ol", "slt-rec-takes", box);
  const errHost = el("div", "", box);

  /** @type {{stream: MediaStream, ctx: AudioContext, proc: ScriptProcessorNode, chunks: Float32Array[], n: number} | null} */
  let cap = null;
  let lastWave = null;          // Float32Array at 16 kHz, -1..1
  let level = -100, raf = 0, startT = 0, player = null;

  function colors() {
    const view = box.ownerDocument.defaultView;
    const cs = view && view.getComputedStyle ? view.getComputedStyle(box) : null;
    const v = (name, fb) => ((cs && cs.getPropertyValue(name)) || "").trim() || fb;
    return { wave: v("--jp-brand-color1", "#1976d2"), box: v("--jp-layout-color3", "#ddd"),
      text: v("--jp-ui-font-color1", "#222") };
  }
  function redraw() {
    canvas.width = Math.max(240, Math.floor(box.clientWidth || 640));
    canvas.height = 110;
    drawTake(canvas, lastWave, lastWave ? model.get("last_segments") : [], colors());
  }
  function syncButtons() {
    const recording = cap !== null;
    recBtn.disabled = recording || model.get("busy");
    stopBtn.disabled = !recording;
    playBtn.disabled = recording || !lastWave;
    box.classList.toggle("slt-rec-recording", recording);
  }
  function syncText() {
    const sentences = model.get("sentences") || [];
    pick.replaceChildren();
    const first = el("option", "", pick, sentences.length ? "pick a sentence…" : "no sentences given");
    first.value = "";
    sentences.forEach((s, i) => { const o = el("option", "", pick, s); o.value = String(i); });
    if (box.ownerDocument.activeElement !== input) input.value = model.get("text") || "";
  }
  function syncStatus() {
    status.textContent = model.get("busy") ? "Aligning…" : (model.get("message") || "");
    status.dataset.kind = model.get("busy") ? "info" : model.get("message_kind");
    takes.replaceChildren();
    for (const u of model.get("utterances") || []) {
      const li = el("li", "", takes);
      li.textContent = `${u.name} — ${u.seconds} s, ${u.n_frames} frames: ${u.text}`;
    }
    errHost.replaceChildren();
    errorBanner(errHost, model.get("error"));
    syncButtons();
  }
  function meterLoop() {
    const frac = Math.max(0, Math.min(1, (level + 60) / 60));   // -60 dBFS … 0 dBFS
    fill.style.width = `${(100 * frac).toFixed(1)}%`;
    fill.dataset.db = level.toFixed(0);
    if (cap) clock.textContent = `${((performance.now() - startT) / 1000).toFixed(1)} s`;
    raf = cap ? requestAnimationFrame(meterLoop) : 0;
  }
  function setMic(state, text) {
    micError.textContent = text || "";
    if (model.get("mic_state") !== state) { model.set("mic_state", state); model.save_changes(); }
  }

  async function start() {
    if (cap) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setMic("unsupported", "This page cannot use a microphone: browsers allow it only on https:// pages or on " +
        "http://localhost. Open Jupyter through localhost or https and try again.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false,
        noiseSuppression: false, autoGainControl: false } });
    } catch (err) {
      const [state, text] = micProblem(err);
      setMic(state, text);
      return;
    }
    const ctx = new AudioContext();
    await ctx.resume();
    const src = ctx.createMediaStreamSource(stream);
    // ScriptProcessor runs on the main thread, which is fine for one mono stream and needs no
    // worklet module URL (a CSP-restricted page may refuse blob: modules).
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    cap = { stream, ctx, proc, chunks: [], n: 0 };
    const limit = model.get("max_seconds") * ctx.sampleRate;
    proc.onaudioprocess = (e) => {
      if (!cap) return;
      const d = e.inputBuffer.getChannelData(0);
      cap.chunks.push(new Float32Array(d));
      cap.n += d.length;
      level = levelDb(d);
      if (cap.n >= limit) stop();
    };
    src.connect(proc);
    proc.connect(mute);
    mute.connect(ctx.destination);
    setMic("recording", "");
    startT = performance.now();
    status.textContent = "Recording… read the sentence, then press Stop.";
    status.dataset.kind = "info";
    syncButtons();
    raf = requestAnimationFrame(meterLoop);
  }

  function release() {
    if (!cap) return null;
    const c = cap;
    cap = null;
    c.proc.onaudioprocess = null;
    try { c.proc.disconnect(); } catch (_) { /* already disconnected */ }
    c.stream.getTracks().forEach((t) => t.stop());
    c.ctx.close();
    level = -100;
    return c;
  }

  function stop() {
    const c = release();
    if (!c) return;
    const all = new Float32Array(c.n);
    let o = 0;
    for (const ch of c.chunks) { all.set(ch, o); o += ch.length; }
    lastWave = resample(all, c.ctx.sampleRate, TARGET_RATE);
    const pcm = toInt16(lastWave);
    setMic("ready", "");
    const text = input.value.trim();
    model.set("text", text);
    model.set("take_text", text);
    model.set("audio", arrayToJson(pcm, [pcm.length]));
    model.set("take", (model.get("take") || 0) + 1);
    model.save_changes();
    status.textContent = "Aligning…";
    status.dataset.kind = "info";
    meterLoop();
    redraw();
    syncButtons();
  }

  function play() {
    if (!lastWave) return;
    if (player) { try { player.close(); } catch (_) { /* closed */ } }
    player = new AudioContext();
    const buf = player.createBuffer(1, lastWave.length, TARGET_RATE);
    buf.copyToChannel(lastWave, 0);
    const s = player.createBufferSource();
    s.buffer = buf;
    s.connect(player.destination);
    s.start();
  }

  L.listen(recBtn, "click", () => { start(); });
  L.listen(stopBtn, "click", stop);
  L.listen(playBtn, "click", play);
  L.listen(pick, "change", () => {
    const s = (model.get("sentences") || [])[Number(pick.value)];
    if (pick.value !== "" && s !== undefined) { input.value = s; model.set("text", s); model.save_changes(); }
  });
  L.listen(input, "change", () => { model.set("text", input.value); model.save_changes(); });

  const onText = () => syncText();
  const onStatus = () => syncStatus();
  const onSegs = () => redraw();
  model.on("change:sentences", onText);
  model.on("change:text", onText);
  for (const k of ["message", "message_kind", "busy", "utterances", "error"]) model.on(`change:${k}`, onStatus);
  model.on("change:last_segments", onSegs);
  syncText();
  syncStatus();
  redraw();

  return () => {
    release();
    if (raf) cancelAnimationFrame(raf);
    if (player) { try { player.close(); } catch (_) { /* closed */ } }
    L.clear();
    model.off("change:sentences", onText);
    model.off("change:text", onText);
    for (const k of ["message", "message_kind", "busy", "utterances", "error"]) model.off(`change:${k}`, onStatus);
    model.off("change:last_segments", onSegs);
    root.replaceChildren();
  };
}

export default { render };
