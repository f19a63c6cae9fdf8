// ClusterTree: SVG dendrogram of a (truncated) linkage, draggable cut line, click to select a cluster.
import { arrayFromJson } from "./codec.js";
import { errorBanner, listenerSet } from "./dom.js";
import { ABOVE_CUT, clusterColor, fmt } from "./colormaps.js";
import { layoutDendrogram, linkPath, nodeClusters } from "./dendrogram.js";

const CT_SVG = "http://www.w3.org/2000/svg";
const CT_KEYS = ["_tree", "_leaf_counts", "_leaf_heights", "_leaf_rep", "_leaf_labels", "labels", "cut",
  "selected", "title", "height_label", "orientation", "width", "height", "error"];

function ctEl(tag, attrs, parent) {
  const e = document.createElementNS(CT_SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/** About n round tick values in [0, top]. @returns {number[]} */
export function niceTicks(top, n = 4) {
  if (!(top > 0)) return [0];
  const raw = top / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = 0; v <= top + 1e-12; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

/**
 * Cluster id of each displayed leaf: the cluster of its representative sample, or -1 when the
 * leaf's own merge height is above the cut (the cut splits it).
 * @param {ArrayLike<number>} labels [n] @param {ArrayLike<number>} rep [m]
 * @param {ArrayLike<number>} heights [m] @param {number} cut @returns {Int32Array} [m]
 */
export function leafClusters(labels, rep, heights, cut) {
  const out = new Int32Array(rep.length);
  for (let i = 0; i < rep.length; i++) out[i] = heights[i] <= cut ? labels[rep[i]] : -1;
  return out;
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "slt-cluster-tree";
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", "Cluster tree");   // an accessible name (issue 17 §5)
  el.appendChild(root);
  const { listen, clear: unlistenAll } = listenerSet();
  let dragMoves = null; // window listeners of an ongoing drag
  const endDrag = () => {
    if (!dragMoves) return;
    for (const [type, fn] of dragMoves) window.removeEventListener(type, fn);
    dragMoves = null;
  };

  function draw() {
    endDrag();
    unlistenAll();
    root.replaceChildren();
    root.classList.toggle("slt-ct-left", (model.get("orientation") ?? "top") === "left");
    errorBanner(root, model.get("error"));
    const tree = arrayFromJson(model.get("_tree"));
    const labels = arrayFromJson(model.get("labels"));
    const rep = arrayFromJson(model.get("_leaf_rep"));
    const lh = arrayFromJson(model.get("_leaf_heights"));
    if (!tree || !labels || !rep || !lh) return;
    const Z = tree.data, m = tree.shape[0] + 1;
    const names = model.get("_leaf_labels") ?? [];
    const cut = Number(model.get("cut"));
    const selected = Number(model.get("selected"));
    const top = (model.get("orientation") ?? "top") === "top";
    const W = model.get("width") || 560, H = model.get("height") || 320;
    let rootH = 0;
    for (let k = 0; k < m - 1; k++) rootH = Math.max(rootH, Z[4 * k + 2]);
    const hmax = rootH * 1.05 || 1;
    const lay = layoutDendrogram(Z, m);
    const leafCl = leafClusters(labels.data, rep.data, lh.data, cut);
    const ncl = nodeClusters(Z, m, leafCl, cut);
    let nClusters = 0;
    for (let i = 0; i < labels.data.length; i++) nClusters = Math.max(nClusters, labels.data[i] + 1);

    const m_ = top ? { l: 52, r: 16, t: 30, b: 64 } : { l: 16, r: 96, t: 30, b: 40 };
    const x0 = m_.l, x1 = W - m_.r, y0 = m_.t, y1 = H - m_.b;
    const slot = ((top ? x1 - x0 : y1 - y0)) / m;
    /** slot position and height -> pixel [x, y] */
    const toXY = top
      ? (pos, h) => [x0 + (pos + 0.5) * slot, y1 - (h / hmax) * (y1 - y0)]
      : (pos, h) => [x1 - (h / hmax) * (x1 - x0), y0 + (pos + 0.5) * slot];
    const hToPix = (h) => (top ? toXY(0, h)[1] : toXY(0, h)[0]);
    const pixToH = (v) => (top ? ((y1 - v) / (y1 - y0)) * hmax : ((x1 - v) / (x1 - x0)) * hmax);

    const svg = ctEl("svg", { class: "slt-ct-svg", width: W, height: H }, root);
    const title = ctEl("text", { class: "slt-ct-title", x: W / 2, y: 16, "text-anchor": "middle" }, svg);
    title.textContent = model.get("title") ?? "";
    // height axis
    const axis = ctEl("g", { class: "slt-ct-axis" }, svg);
    for (const v of niceTicks(rootH)) {
      const p = hToPix(v);
      if (top) {
        ctEl("line", { x1: x0 - 4, x2: x0, y1: p, y2: p }, axis);
        ctEl("text", { x: x0 - 6, y: p + 3, "text-anchor": "end" }, axis).textContent = fmt(v);
      } else {
        ctEl("line", { x1: p, x2: p, y1: y1 + 4, y2: y1 }, axis);
        ctEl("text", { x: p, y: y1 + 14, "text-anchor": "middle" }, axis).textContent = fmt(v);
      }
    }
    ctEl("line", top ? { x1: x0, x2: x0, y1: y0, y2: y1 } : { x1: x0, x2: x1, y1: y1, y2: y1 }, axis);
    const hl = ctEl("text", top
      ? { class: "slt-ct-axis-label", transform: `translate(12 ${(y0 + y1) / 2}) rotate(-90)`, "text-anchor": "middle" }
      : { class: "slt-ct-axis-label", x: (x0 + x1) / 2, y: H - 6, "text-anchor": "middle" }, svg);
    hl.textContent = model.get("height_label") ?? "";
    // links: a wide transparent hit path under each visible one makes thin branches easy to click
    const links = ctEl("g", { class: "slt-ct-links" }, svg);
    for (let k = 0; k < m - 1; k++) {
      const d = linkPath(Z, m, k, lay, toXY);
      const c = ncl[m + k];
      let cls = "slt-ct-link";
      if (selected >= 0) cls += c === selected ? " slt-ct-selected" : " slt-ct-dim";
      ctEl("path", { class: "slt-ct-hit", d, "data-node": m + k }, links);
      ctEl("path", { class: cls, d, stroke: c >= 0 ? clusterColor(c) : ABOVE_CUT, "data-node": m + k, "data-cluster": c }, links);
    }
    // leaves: a short stub and a label (name, index, or "(count)" for truncated leaves)
    const leaves = ctEl("g", { class: "slt-ct-leaves" }, svg);
    for (let i = 0; i < m; i++) {
      const [x, y] = toXY(lay.pos[i], 0);
      const c = leafCl[i];
      const color = c >= 0 ? clusterColor(c) : ABOVE_CUT;
      const attrs = top
        ? { x, y: y + 6, "text-anchor": "end", transform: `rotate(-90 ${x} ${y + 6})`, dy: "0.32em" }
        : { x: x + 6, y, dy: "0.32em" };
      const t = ctEl("text", { class: "slt-ct-leaf", fill: color, "data-node": i, "data-cluster": c, ...attrs }, leaves);
      t.textContent = names[i] ?? String(i);
      if (slot < 11) t.style.fontSize = `${Math.max(6, slot + 1)}px`;
      if (m > 80) t.setAttribute("display", "none"); // unreadable anyway; hover titles still work
    }
    // cut line with a wide drag handle
    const cutG = ctEl("g", { class: "slt-ct-cut-group" }, svg);
    const line = ctEl("line", { class: "slt-ct-cut" }, cutG);
    const handle = ctEl("line", { class: "slt-ct-cut-handle" }, cutG);
    const cutLabel = ctEl("text", { class: "slt-ct-cut-label", "text-anchor": top ? "end" : "start" }, cutG);
    const placeCut = (h, n) => {
      const p = hToPix(h);
      const a = top ? { x1: x0, x2: x1, y1: p, y2: p } : { x1: p, x2: p, y1: y0, y2: y1 };
      for (const e of [line, handle]) for (const [k, v] of Object.entries(a)) e.setAttribute(k, String(v));
      if (top) { cutLabel.setAttribute("x", String(x1)); cutLabel.setAttribute("y", String(p - 4)); }
      else { cutLabel.setAttribute("x", String(p + 4)); cutLabel.setAttribute("y", String(y0 - 4)); }
      cutLabel.textContent = n === null ? `cut ${fmt(h)}` : `cut ${fmt(h)} · ${n} cluster${n === 1 ? "" : "s"}`;
    };
    placeCut(cut, nClusters);

    listen(handle, "mousedown", (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      endDrag();
      let h = cut;
      const move = (e) => {
        const r = svg.getBoundingClientRect();
        const v = top ? e.clientY - r.top : e.clientX - r.left;
        h = Math.min(rootH, Math.max(0, pixToH(v)));
        placeCut(h, null);
      };
      const up = (e) => {
        move(e);
        endDrag();
        model.set("cut", h);
        model.save_changes();
      };
      dragMoves = [["mousemove", move], ["mouseup", up]];
      for (const [type, fn] of dragMoves) window.addEventListener(type, fn);
    });
    listen(svg, "click", (ev) => {
      const t = /** @type {Element} */ (ev.target);
      const hit = t && t.closest ? t.closest("[data-node]") : null;
      if (!hit) return;
      const c = ncl[Number(hit.getAttribute("data-node"))];
      const next = c >= 0 && c !== selected ? c : -1; // click the selected cluster again to clear
      model.set("selected", next);
      model.save_changes();
    });
  }

  const onChange = () => draw();
  for (const k of CT_KEYS) model.on(`change:${k}`, onChange);
  draw();
  return () => {
    for (const k of CT_KEYS) model.off(`change:${k}`, onChange);
    endDrag();
    unlistenAll();
    root.remove();
  };
}

export default { render };
