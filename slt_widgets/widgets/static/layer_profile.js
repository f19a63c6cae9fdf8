// LayerProfile: one measure per layer, one line per network; a click on a layer column selects it.
import { arrayFromJson } from "./codec.js";
import { errorBanner, listenerSet } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const LP_KEYS = ["values", "layers", "names", "colors", "selectable", "selected", "title", "y_label",
  "pending", "width", "height", "error"];

/** @param {string} tag @param {Record<string, any>} attrs @param {Element} [parent] */
function svgEl(tag, attrs, parent) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/** [lo, hi] over the finite values (padded 8 %; a flat series gets ±1). */
export function valueRange(data) {
  let lo = Infinity, hi = -Infinity;
  for (const v of data) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi - lo < 1e-12) return [lo - 1, hi + 1];
  const pad = 0.08 * (hi - lo);
  return [lo - pad, hi + pad];
}

/** Short number for a tick or a tooltip. */
export function fmtValue(v) {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "slt-layer-profile";
  el.appendChild(root);
  const { listen, clear } = listenerSet();

  function draw() {
    clear();
    root.replaceChildren();
    const W = model.get("width"), H = model.get("height");
    const layers = model.get("layers") ?? [], names = model.get("names") ?? [];
    const colors = model.get("colors") ?? [], selectable = model.get("selectable") ?? [];
    const selected = model.get("selected");
    const arr = arrayFromJson(model.get("values"));
    const X = layers.length, M = names.length;
    const data = arr ? arr.data : new Float32Array(0);
    const title = document.createElement("div");
    title.className = "slt-lp-title";
    title.textContent = model.get("title");
    root.appendChild(title);
    const svg = svgEl("svg", { width: W, height: H, class: "slt-lp-svg" }, root);
    const m = { l: 44, r: 8, t: 6, b: 22 };
    const pw = W - m.l - m.r, ph = H - m.t - m.b;
    const xAt = (i) => m.l + (X <= 1 ? pw / 2 : (i + 0.5) * (pw / X));
    const [lo, hi] = valueRange(data);
    const yAt = (v) => m.t + ph - ((v - lo) / (hi - lo)) * ph;
    svgEl("rect", { x: m.l, y: m.t, width: pw, height: ph, class: "slt-lp-frame" }, svg);
    // layer columns: the click targets (full height, so the edge of a column still counts)
    for (let i = 0; i < X; i++) {
      const col = svgEl("rect", { x: m.l + i * (pw / X), y: m.t, width: pw / X, height: ph + m.b,
        class: "slt-lp-col" + (layers[i] === selected ? " slt-lp-selected" : "") +
               (selectable[i] ? " slt-lp-clickable" : ""), "data-layer": layers[i] }, svg);
      if (!selectable[i]) col.setAttribute("data-disabled", "1");
      const lab = svgEl("text", { x: xAt(i), y: H - 6, "text-anchor": "middle", class: "slt-lp-xlabel",
        "data-layer": layers[i] }, svg);
      lab.textContent = layers[i];
    }
    for (const t of [lo + 0.08 / 1.16 * (hi - lo), (lo + hi) / 2, hi - 0.08 / 1.16 * (hi - lo)]) {
      const y = yAt(t);
      svgEl("line", { x1: m.l - 3, x2: m.l, y1: y, y2: y, class: "slt-lp-tick" }, svg);
      const tl = svgEl("text", { x: m.l - 5, y: y + 3, "text-anchor": "end", class: "slt-lp-ylabel" }, svg);
      tl.textContent = fmtValue(t);
    }
    for (let s = 0; s < M; s++) {
      const color = colors[s] ?? "#444";
      let path = "", pen = false;
      for (let i = 0; i < X; i++) {
        const v = data[s * X + i];
        if (!Number.isFinite(v)) { pen = false; continue; }
        path += `${pen ? "L" : "M"}${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}`;
        pen = true;
      }
      if (path) svgEl("path", { d: path, class: "slt-lp-line", stroke: color, "data-model": names[s] }, svg);
      for (let i = 0; i < X; i++) {
        const v = data[s * X + i];
        if (!Number.isFinite(v)) continue;
        const dot = svgEl("circle", { cx: xAt(i), cy: yAt(v), r: 3.2, fill: color, class: "slt-lp-dot",
          "data-layer": layers[i], "data-model": names[s] }, svg);
        const tip = svgEl("title", {}, dot);
        tip.textContent = `${names[s]} · ${layers[i]}: ${fmtValue(v)}`;
      }
    }
    if (model.get("pending")) {
      const p = svgEl("text", { x: m.l + pw / 2, y: m.t + ph / 2, "text-anchor": "middle", class: "slt-lp-pending" }, svg);
      p.textContent = "not computed yet";
    }
    const legend = document.createElement("div");
    legend.className = "slt-lp-legend";
    names.forEach((n, s) => {
      const item = document.createElement("span");
      item.className = "slt-lp-key";
      const sw = document.createElement("span");
      sw.className = "slt-lp-swatch";
      sw.style.background = colors[s] ?? "#444";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(n));
      legend.appendChild(item);
    });
    root.appendChild(legend);
    errorBanner(root, model.get("error"));
    listen(svg, "click", (ev) => {
      const t = /** @type {Element} */ (ev.target);
      const hit = t && t.closest ? t.closest("[data-layer]") : null;
      if (!hit) return;
      const layer = hit.getAttribute("data-layer");
      const i = layers.indexOf(layer);
      if (i < 0 || !selectable[i]) return;
      model.set("selected", layer);
      model.save_changes();
    });
  }

  const onChange = () => draw();
  for (const k of LP_KEYS) model.on(`change:${k}`, onChange);
  draw();
  return () => {
    for (const k of LP_KEYS) model.off(`change:${k}`, onChange);
    clear();
    root.remove();
  };
}

export default { render };
