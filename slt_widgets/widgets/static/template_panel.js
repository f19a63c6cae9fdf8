// TemplatePanel: grid of heatmaps (band 0 at the bottom) with colour bars and a hover read-out.
import { arrayFromJson } from "./codec.js";
import { errorBanner, listenerSet } from "./dom.js";
import { DIVERGING, SEQUENTIAL, colorAt, colorLimits, fmt } from "./colormaps.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const TP_KEYS = ["images", "titles", "kinds", "shared_scale", "count", "count_unit", "title",
  "x_label", "y_label", "x_ticks", "y_ticks", "columns", "pixel_size", "origin", "error"];

/** @param {string} tag @param {Record<string, any>} attrs @param {Element} [parent] */
function svgEl(tag, attrs, parent) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/**
 * Colour limits of every panel: [P][lo, hi] (same rule as _static_png.panel_limits).
 * @param {Float32Array} data [P * H * W] @param {number} P @param {number} HW
 * @param {string[]} kinds [P] @param {boolean} shared
 */
export function panelLimits(data, P, HW, kinds, shared) {
  const div = Array.from({ length: P }, (_, p) => (kinds[p] ?? "features") !== "features");
  const lims = [];
  for (let p = 0; p < P; p++) {
    if (!shared) { lims.push(colorLimits(data.subarray(p * HW, (p + 1) * HW), div[p])); continue; }
    const group = [];
    for (let q = 0; q < P; q++) if (div[q] === div[p]) group.push(data.subarray(q * HW, (q + 1) * HW));
    const all = new Float32Array(group.length * HW);
    group.forEach((g, i) => all.set(g, i * HW));
    lims.push(colorLimits(all, div[p]));
  }
  return lims;
}

/** Indices to label on an axis of n cells: every step-th, anchored on the tick whose value is 0. */
export function tickIndices(n, values, maxTicks) {
  const step = Math.max(1, Math.ceil(n / Math.max(1, maxTicks)));
  let anchor = values.findIndex((v) => v === 0);
  if (anchor < 0) anchor = 0;
  const out = [];
  for (let i = 0; i < n; i++) if ((((i - anchor) % step) + step) % step === 0) out.push(i);
  return out;
}

/** The heading text: "title — count unit". */
export function headingText(title, count, unit) {
  if (count === null || count === undefined) return title ?? "";
  return title ? `${title} — ${count} ${unit}` : `${count} ${unit}`;
}

/** Paint values [H * W] into an RGBA buffer [H * W * 4]; with lower=true row 0 lands at the bottom. */
export function paintHeatmap(rgba, values, H, W, stops, lo, hi, lower = true) {
  for (let r = 0; r < H; r++) {
    const y = lower ? H - 1 - r : r;
    for (let c = 0; c < W; c++) {
      const [R, G, B] = colorAt(stops, (values[r * W + c] - lo) / (hi - lo));
      const o = 4 * (y * W + c);
      rgba[o] = R; rgba[o + 1] = G; rgba[o + 2] = B; rgba[o + 3] = 255;
    }
  }
}

function drawCanvas(canvas, W, H, fill) {
  const ctx = canvas.getContext && canvas.getContext("2d");
  if (!ctx) return; // no canvas support (e.g. jsdom without a stub): the DOM is still complete
  const img = ctx.createImageData(W, H);
  fill(img.data);
  ctx.putImageData(img, 0, 0);
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "slt-template-panel";
  el.appendChild(root);
  const { listen, clear: unlistenAll } = listenerSet();

  function draw() {
    unlistenAll();
    root.replaceChildren();
    const heading = document.createElement("div");
    heading.className = "slt-tp-heading";
    heading.textContent = headingText(model.get("title"), model.get("count"), model.get("count_unit"));
    root.appendChild(heading);
    root.setAttribute("role", "figure");      // its accessible name: the heading and the panel titles
    root.setAttribute("aria-label", `Templates ${heading.textContent}: ${(model.get("titles") ?? []).join(", ")}`);
    errorBanner(root, model.get("error"));
    const arr = arrayFromJson(model.get("images"));
    if (!arr || arr.shape.length !== 3) return;
    const [P, H, W] = arr.shape;
    const titles = model.get("titles") ?? [];
    const kinds = model.get("kinds") ?? [];
    const xTicks = model.get("x_ticks") ?? Array.from({ length: W }, (_, i) => i - Math.floor((W - 1) / 2));
    const yTicks = model.get("y_ticks") ?? Array.from({ length: H }, (_, i) => i);
    const xLabel = model.get("x_label") ?? "", yLabel = model.get("y_label") ?? "";
    const s = model.get("pixel_size") || Math.max(2, Math.min(24, Math.round(160 / Math.max(H, W))));
    const lower = (model.get("origin") ?? "lower") !== "upper";
    const rowY = (i) => (lower ? H - 1 - i : i); // screen row of data row i
    const lims = panelLimits(arr.data, P, H * W, kinds, !!model.get("shared_scale"));
    const grid = document.createElement("div");
    grid.className = "slt-tp-grid";
    const cols = model.get("columns");
    if (cols) grid.style.gridTemplateColumns = `repeat(${cols}, max-content)`; // else: wrap to the width
    else grid.classList.add("slt-tp-wrap");
    root.appendChild(grid);
    const readout = document.createElement("div");
    readout.className = "slt-tp-readout";
    readout.textContent = "\u00a0";
    root.appendChild(readout);

    const pw = W * s, ph = H * s;
    const ml = 46, mt = 22, mb = 36, cbw = 10, gap = 8, cbt = 40;
    const PW = ml + pw + gap + cbw + cbt, PH = mt + ph + mb;
    for (let p = 0; p < P; p++) {
      const values = arr.data.subarray(p * H * W, (p + 1) * H * W);
      const kind = kinds[p] ?? "features";
      const stops = kind === "features" ? SEQUENTIAL : DIVERGING;
      const [lo, hi] = lims[p];
      const panel = document.createElement("div");
      panel.className = `slt-tp-panel slt-tp-${kind}`;
      panel.style.width = `${PW}px`;
      panel.style.height = `${PH}px`;
      grid.appendChild(panel);
      const svg = svgEl("svg", { class: "slt-tp-axes", width: PW, height: PH }, panel);
      const t = svgEl("text", { class: "slt-tp-title", x: ml + pw / 2, y: 14, "text-anchor": "middle" }, svg);
      t.textContent = titles[p] ?? "";
      svgEl("rect", { class: "slt-tp-frame", x: ml - 0.5, y: mt - 0.5, width: pw + 1, height: ph + 1 }, svg);
      for (const i of tickIndices(H, yTicks, Math.max(2, Math.floor(ph / 16)))) {
        const y = mt + (rowY(i) + 0.5) * s;
        svgEl("line", { class: "slt-tp-tick", x1: ml - 4, x2: ml, y1: y, y2: y }, svg);
        const tx = svgEl("text", { class: "slt-tp-ticklabel", x: ml - 6, y: y + 3, "text-anchor": "end" }, svg);
        tx.textContent = fmt(Number(yTicks[i]));
      }
      for (const i of tickIndices(W, xTicks, Math.max(2, Math.floor(pw / 22)))) {
        const x = ml + (i + 0.5) * s;
        svgEl("line", { class: "slt-tp-tick", x1: x, x2: x, y1: mt + ph, y2: mt + ph + 4 }, svg);
        const tx = svgEl("text", { class: "slt-tp-ticklabel", x, y: mt + ph + 14, "text-anchor": "middle" }, svg);
        tx.textContent = fmt(Number(xTicks[i]));
      }
      const xl = svgEl("text", { class: "slt-tp-label", x: ml + pw / 2, y: PH - 6, "text-anchor": "middle" }, svg);
      xl.textContent = xLabel;
      const yl = svgEl("text", { class: "slt-tp-label", x: 0, y: 0, "text-anchor": "middle",
        transform: `translate(10 ${mt + ph / 2}) rotate(-90)` }, svg);
      yl.textContent = yLabel;
      // colour bar: ticks at lo, 0 (diverging) or middle, hi
      const cbx = ml + pw + gap;
      svgEl("rect", { class: "slt-tp-frame", x: cbx - 0.5, y: mt - 0.5, width: cbw + 1, height: ph + 1 }, svg);
      const cbTicks = kind === "features" ? [lo, (lo + hi) / 2, hi] : [lo, 0, hi];
      for (const v of cbTicks) {
        const y = mt + ph - ((v - lo) / (hi - lo)) * ph;
        svgEl("line", { class: "slt-tp-tick", x1: cbx + cbw, x2: cbx + cbw + 3, y1: y, y2: y }, svg);
        const tx = svgEl("text", { class: "slt-tp-ticklabel", x: cbx + cbw + 5, y: y + 3 }, svg);
        tx.textContent = fmt(v);
      }
      const canvas = document.createElement("canvas");
      canvas.className = "slt-tp-canvas";
      canvas.width = W; canvas.height = H;
      Object.assign(canvas.style, { left: `${ml}px`, top: `${mt}px`, width: `${pw}px`, height: `${ph}px` });
      panel.appendChild(canvas);
      drawCanvas(canvas, W, H, (rgba) => paintHeatmap(rgba, values, H, W, stops, lo, hi, lower));
      const cbar = document.createElement("canvas");
      cbar.className = "slt-tp-colorbar";
      cbar.width = 1; cbar.height = 64;
      Object.assign(cbar.style, { left: `${cbx}px`, top: `${mt}px`, width: `${cbw}px`, height: `${ph}px` });
      panel.appendChild(cbar);
      drawCanvas(cbar, 1, 64, (rgba) => {
        for (let y = 0; y < 64; y++) {
          const [R, G, B] = colorAt(stops, 1 - y / 63);
          rgba.set([R, G, B, 255], 4 * y);
        }
      });
      listen(canvas, "mousemove", (ev) => {
        const r = canvas.getBoundingClientRect();
        const c = Math.floor(((ev.clientX - r.left) / r.width) * W);
        const row = Math.floor(((ev.clientY - r.top) / r.height) * H);
        if (!(c >= 0 && c < W && row >= 0 && row < H)) return;
        const band = rowY(row);
        const v = values[band * W + c];
        const name = titles[p] ? `${titles[p]}: ` : "";
        readout.textContent = `${name}${yLabel || "row"} ${fmt(Number(yTicks[band]))}, ${xLabel || "column"} ${fmt(Number(xTicks[c]))} → ${fmt(v)}`;
        readout.dataset.panel = String(p);
        readout.dataset.row = String(band);
        readout.dataset.col = String(c);
      });
      listen(canvas, "mouseleave", () => { readout.textContent = "\u00a0"; });
    }
  }

  const onChange = () => draw();
  for (const k of TP_KEYS) model.on(`change:${k}`, onChange);
  draw();
  return () => {
    for (const k of TP_KEYS) model.off(`change:${k}`, onChange);
    unlistenAll();
    root.remove();
  };
}

export default { render };
