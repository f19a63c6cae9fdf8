// ClusterTree: SVG dendrogram of a (truncated) linkage with a draggable cut and clickable clusters.
//
// What a user meets: the clusters at the cut drawn in colour (ids 0..n_drawn-1, largest first),
// the small ones in one grey "other" group, links above the cut in the text colour. Each
// coloured cluster is ONE click target covering its whole subtree (a transparent box from its
// root down to its leaf labels, `data-cluster="<id>"`); links above the cut are not targets,
// so a click near a cluster never lands on the tree above it. The cut is dragged by a knob in
// the left margin, away from every cluster root. Keyboard: Tab into the tree, arrow keys move
// between the coloured clusters, Enter (or Space) selects; the legend's entries select too.
import { arrayFromJson } from "./codec.js";
import { errorBanner, listenerSet } from "./dom.js";
import { ABOVE_CUT, clusterColor, fmt } from "./colormaps.js";
import { layoutDendrogram, linkPath, nodeClusters } from "./dendrogram.js";

const CT_SVG = "http://www.w3.org/2000/svg";
const CT_KEYS = ["_tree", "_leaf_counts", "_leaf_heights", "_leaf_rep", "_leaf_labels", "labels", "cut",
  "selected", "title", "height_label", "orientation", "width", "height", "error", "n_drawn", "max_leaves",
  "unit"];
let ctInstance = 0;

function ctEl(tag, attrs, parent) {
  const e = document.createElementNS(CT_SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function htmlEl(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

/** About n round tick values in [0, top], 0 included. @returns {number[]} */
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

/**
 * The box of each drawn cluster along the leaf axis and its root height.
 * @param {Int32Array} ncl [2m-1] cluster of each node (nodeClusters) @param {number} m leaves
 * @param {{pos: Float64Array, height: Float64Array}} lay @param {number} nDrawn
 * @returns {Map<number, {lo: number, hi: number, h: number, leaves: number}>} slot range and root height
 */
export function clusterBoxes(ncl, m, lay, nDrawn) {
  const out = new Map();
  for (let node = 0; node < 2 * m - 1; node++) {
    const c = ncl[node];
    if (c < 0 || c >= nDrawn) continue;
    const b = out.get(c) ?? { lo: Infinity, hi: -Infinity, h: 0, leaves: 0 };
    if (node < m) { b.lo = Math.min(b.lo, lay.pos[node]); b.hi = Math.max(b.hi, lay.pos[node]); b.leaves += 1; }
    b.h = Math.max(b.h, lay.height[node]);
    out.set(c, b);
  }
  return out;
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const uid = `slt-ct-${++ctInstance}`;
  const root = htmlEl("div", "slt-cluster-tree", el);
  const { listen, clear: unlistenAll } = listenerSet();
  let dragMoves = null; // window listeners of an ongoing drag
  let focusIdx = 0;     // keyboard position among the drawn clusters
  let hadFocus = false;
  const endDrag = () => {
    if (!dragMoves) return;
    for (const [type, fn] of dragMoves) window.removeEventListener(type, fn);
    dragMoves = null;
  };
  const choose = (c) => {
    model.set("selected", c);
    model.save_changes();
  };

  function draw() {
    endDrag();
    hadFocus = hadFocus || (document.activeElement && root.contains(document.activeElement));
    unlistenAll();
    root.replaceChildren();
    const top = (model.get("orientation") ?? "top") === "top";
    root.classList.toggle("slt-ct-left", !top);
    errorBanner(root, model.get("error"));
    const tree = arrayFromJson(model.get("_tree"));
    const labels = arrayFromJson(model.get("labels"));
    const rep = arrayFromJson(model.get("_leaf_rep"));
    const lh = arrayFromJson(model.get("_leaf_heights"));
    const counts = arrayFromJson(model.get("_leaf_counts"));
    if (!tree || !labels || !rep || !lh) return;
    const Z = tree.data, m = tree.shape[0] + 1;
    const names = model.get("_leaf_labels") ?? [];
    const unit = model.get("unit") || "samples";
    const cut = Number(model.get("cut"));
    const selected = Number(model.get("selected"));
    const W = model.get("width") || 560, H = model.get("height") || 320;
    let nClusters = 0;
    for (let i = 0; i < labels.data.length; i++) nClusters = Math.max(nClusters, labels.data[i] + 1);
    const nd = Number(model.get("n_drawn") ?? 0);
    const nDrawn = nd > 0 ? Math.min(nd, nClusters) : nClusters;
    const sizes = new Int32Array(nClusters);
    for (let i = 0; i < labels.data.length; i++) sizes[labels.data[i]] += 1;
    const colorOf = (c) => (c < 0 ? null : c < nDrawn ? clusterColor(c) : "other");

    let rootH = 0;
    for (let k = 0; k < m - 1; k++) rootH = Math.max(rootH, Z[4 * k + 2]);
    // the height axis starts a little below the lowest truncated leaf: UPGMA of unit SLTs merges
    // everything between ~1 and √2, and an axis from 0 would squeeze the tree into its top tenth
    let lowLeaf = Infinity;
    for (let i = 0; i < m; i++) lowLeaf = Math.min(lowLeaf, lh.data[i]);
    const lo0 = Number.isFinite(lowLeaf) && lowLeaf > 0 ? Math.max(0, lowLeaf - 0.25 * (rootH - lowLeaf)) : 0;
    const ticks0 = niceTicks(rootH);
    const step = ticks0.length > 1 ? ticks0[1] - ticks0[0] : 1;
    const hlo = lo0 > 0 ? Math.min(Math.floor(lo0 / (step / 2)) * (step / 2), cut) : 0;
    const hmax = rootH + 0.05 * (rootH - hlo) || 1;
    const lay = layoutDendrogram(Z, m);
    // a truncated leaf stands at its own merge height; a wedge below it stands for its samples
    for (let i = 0; i < m; i++) lay.height[i] = Math.min(lh.data[i], cut);
    const leafCl = leafClusters(labels.data, rep.data, lh.data, cut);
    const ncl = nodeClusters(Z, m, leafCl, cut);
    const boxes = clusterBoxes(ncl, m, lay, nDrawn);
    const order = [...boxes.keys()].sort((a, b) => boxes.get(a).lo - boxes.get(b).lo); // left to right

    // ---- header: title, cut read-out, detail buttons (HTML: wraps, never clipped)
    root.style.width = `${W}px`;            // header and legend wrap inside the tree's own width
    const head = htmlEl("div", "slt-ct-head", root);
    htmlEl("div", "slt-ct-title", head, model.get("title") ?? "");
    const bar = htmlEl("div", "slt-ct-bar", head);
    const cutLabel = htmlEl("span", "slt-ct-cut-label", bar);
    const other = nClusters - nDrawn;
    const cutText = (h, n) => n === null ? `cut ${fmt(h)}` :
      `cut ${fmt(h)} · ${nDrawn} cluster${nDrawn === 1 ? "" : "s"}` + (other > 0 ? ` + ${other} small` : "");
    cutLabel.textContent = cutText(cut, nClusters);
    const nLeaves = labels.data.length;
    const maxLeaves = Number(model.get("max_leaves") ?? m);
    const more = htmlEl("button", "slt-ct-expand", bar, "+ detail");
    more.type = "button";
    more.title = "draw more leaves below the cut";
    more.disabled = m >= nLeaves || m >= 500;
    const less = htmlEl("button", "slt-ct-collapse", bar, "− detail");
    less.type = "button";
    less.title = "one leaf per cluster";
    less.disabled = m <= nClusters;
    listen(more, "click", () => { model.set("max_leaves", Math.min(nLeaves, 500, Math.max(maxLeaves, m) * 2)); model.save_changes(); });
    listen(less, "click", () => { model.set("max_leaves", Math.max(2, nClusters)); model.save_changes(); });

    // ---- plot
    const leafRoom = top ? 62 : 78;
    const m_ = top ? { l: 58, r: 12, t: 10, b: leafRoom } : { l: 16, r: leafRoom, t: 10, b: 34 };
    const x0 = m_.l, x1 = W - m_.r, y0 = m_.t, y1 = H - m_.b;
    const slot = (top ? x1 - x0 : y1 - y0) / m;
    const frac = (h) => (Math.max(h, hlo) - hlo) / (hmax - hlo);
    const toXY = top
      ? (pos, h) => [x0 + (pos + 0.5) * slot, y1 - frac(h) * (y1 - y0)]
      : (pos, h) => [x1 - frac(h) * (x1 - x0), y0 + (pos + 0.5) * slot];
    const hToPix = (h) => (top ? toXY(0, h)[1] : toXY(0, h)[0]);
    const pixToH = (v) => hlo + (top ? (y1 - v) / (y1 - y0) : (x1 - v) / (x1 - x0)) * (hmax - hlo);
    const svg = ctEl("svg", { class: "slt-ct-svg", width: W, height: H, tabindex: 0, role: "listbox",
      "aria-label": `${model.get("title") || "dendrogram"}: ${nDrawn} cluster${nDrawn === 1 ? "" : "s"} in colour. ` +
        "Arrow keys move between clusters, Enter selects." }, root);
    const axis = ctEl("g", { class: "slt-ct-axis" }, svg);
    for (const v of niceTicks(rootH, hlo > 0 ? 8 : 4)) {
      if (v < hlo - 1e-12) continue;
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
      ? { class: "slt-ct-axis-label", transform: `translate(10 ${(y0 + y1) / 2}) rotate(-90)`, "text-anchor": "middle" }
      : { class: "slt-ct-axis-label", x: (x0 + x1) / 2, y: H - 4, "text-anchor": "middle" }, svg);
    hl.textContent = model.get("height_label") ?? "";

    // cluster boxes first (under the links): the whole coloured subtree is the click target
    const hits = ctEl("g", { class: "slt-ct-clusters" }, svg);
    const boxEls = new Map();
    for (const c of order) {
      const b = boxes.get(c);
      const rh = hToPix(b.h);
      const a = toXY(b.lo - 0.5, 0), z = toXY(b.hi + 0.5, 0);
      const pad = 5;
      const r = top
        ? { x: a[0], y: rh - pad, width: z[0] - a[0], height: y1 + leafRoom - 4 - (rh - pad) }
        : { x: rh - pad, y: a[1], width: 0, height: z[1] - a[1] };
      if (!top) r.width = W - 4 - r.x;
      const rect = ctEl("rect", { class: "slt-ct-cluster" + (c === selected ? " slt-ct-cluster-selected" : ""),
        id: `${uid}-c${c}`, role: "option", "aria-selected": c === selected ? "true" : "false",
        "aria-label": `cluster ${c}: ${sizes[c]} ${unit}`, "data-cluster": c, ...r }, hits);
      const t = ctEl("title", {}, rect);
      t.textContent = `cluster ${c} · ${sizes[c]} ${unit} — click to select`;
      boxEls.set(c, rect);
    }
    // links (drawn over the boxes, not targets themselves)
    const links = ctEl("g", { class: "slt-ct-links" }, svg);
    for (let k = 0; k < m - 1; k++) {
      const c = ncl[m + k];
      const col = colorOf(c);
      let cls = "slt-ct-link";
      if (col === null) cls += " slt-ct-above";
      else if (col === "other") cls += " slt-ct-other";
      if (selected >= 0 && col !== null) cls += c === selected ? " slt-ct-selected" : " slt-ct-dim";
      const attrs = { class: cls, d: linkPath(Z, m, k, lay, toXY), "data-node": m + k, "data-cluster": c };
      if (col !== null && col !== "other") attrs.stroke = col;
      else if (col === null) attrs.stroke = ABOVE_CUT;
      ctEl("path", attrs, links);
    }
    // wedges: each truncated leaf holding several samples, from its merge height to the axis
    const wedges = ctEl("g", { class: "slt-ct-wedges" }, svg);
    for (let i = 0; i < m; i++) {
      const n = counts ? counts.data[i] : 1;
      if (n < 2) continue;
      const c = leafCl[i];
      const col = colorOf(c);
      const w = Math.min(0.42 * slot, 3 + Math.sqrt(n));
      const [ax, ay] = toXY(lay.pos[i], lay.height[i]);
      const [bx, by] = toXY(lay.pos[i], 0);
      const d = top ? `M${ax.toFixed(1)},${ay.toFixed(1)}L${(bx - w).toFixed(1)},${by.toFixed(1)}L${(bx + w).toFixed(1)},${by.toFixed(1)}Z`
        : `M${ax.toFixed(1)},${ay.toFixed(1)}L${bx.toFixed(1)},${(by - w).toFixed(1)}L${bx.toFixed(1)},${(by + w).toFixed(1)}Z`;
      const cls = "slt-ct-wedge" + (col === null || col === "other" ? " slt-ct-wedge-other" : "") +
        (selected >= 0 && col !== null && col !== "other" ? (c === selected ? " slt-ct-selected" : " slt-ct-dim") : "");
      const attrs = { class: cls, d, "data-node": i, "data-cluster": c };
      if (col !== null && col !== "other") { attrs.fill = col; attrs.stroke = col; }
      ctEl("path", attrs, wedges);
    }
    // leaves: a label per displayed leaf — "#id · n" for a leaf that is a whole drawn cluster,
    // "n" for part of a cluster or a small grey one, the sample's name for a named single sample
    const leaves = ctEl("g", { class: "slt-ct-leaves" }, svg);
    const font = Math.max(7, Math.min(11, slot - 1));
    for (let i = 0; i < m; i++) {
      const [x, y] = toXY(lay.pos[i], 0);
      const c = leafCl[i];
      const col = colorOf(c);
      const n = counts ? counts.data[i] : 1;
      let text = n === 1 && names[i] && !/^\(\d+\)$/.test(names[i]) ? names[i] : String(n);
      if (col !== null && col !== "other" && n === sizes[c]) text = `#${c} · ${n}`;
      const attrs = top
        ? { x, y: y + 5, "text-anchor": "end", transform: `rotate(-90 ${x} ${y + 5})`, dy: "0.32em" }
        : { x: x + 5, y, dy: "0.32em" };
      const cls = "slt-ct-leaf" + (col === "other" || col === null ? " slt-ct-leaf-other" : "");
      const t = ctEl("text", { class: cls, "data-node": i, "data-cluster": c, ...attrs }, leaves);
      // text in the theme's font colour (readable in light and dark themes); the wedge above carries the colour
      t.style.fontSize = `${font}px`;
      t.textContent = text;
      if (slot < 7) t.setAttribute("display", "none"); // too dense to read: the legend has the counts
    }
    // cut line (not a target) and its drag knob in the margin, clear of every cluster root
    const cutG = ctEl("g", { class: "slt-ct-cut-group" }, svg);
    const line = ctEl("line", { class: "slt-ct-cut" }, cutG);
    const knob = ctEl("path", { class: "slt-ct-cut-handle", role: "slider", "aria-label": "cut height",
      "aria-valuenow": fmt(cut), "aria-valuemin": 0, "aria-valuemax": fmt(rootH) }, cutG);
    const kt = ctEl("title", {}, knob);
    kt.textContent = "drag to move the cut";
    const placeCut = (h) => {
      const p = hToPix(h);
      const a = top ? { x1: x0, x2: x1, y1: p, y2: p } : { x1: p, x2: p, y1: y0, y2: y1 };
      for (const [k, v] of Object.entries(a)) line.setAttribute(k, String(v));
      // a triangle pointing at the axis, outside the plot area
      knob.setAttribute("d", top ? `M${x0 - 18},${p - 7}L${x0 - 2},${p}L${x0 - 18},${p + 7}Z`
        : `M${p - 7},${y1 + 20}L${p},${y1 + 4}L${p + 7},${y1 + 20}Z`);
    };
    placeCut(cut);

    // ---- legend: one entry per drawn cluster (swatch and label never part), then "other"
    const legend = htmlEl("div", "slt-ct-legend", root);
    const whole = htmlEl("button", "slt-ct-legend-item slt-ct-legend-all" + (selected < 0 ? " slt-ct-legend-selected" : ""),
      legend, `whole class (${labels.data.length})`);
    whole.type = "button";
    whole.setAttribute("data-cluster", "-1");
    for (let c = 0; c < nDrawn; c++) {
      const item = htmlEl("button", "slt-ct-legend-item" + (c === selected ? " slt-ct-legend-selected" : ""), legend);
      item.type = "button";
      item.setAttribute("data-cluster", String(c));
      const sw = htmlEl("span", "slt-ct-swatch", item);
      sw.style.background = clusterColor(c);
      htmlEl("span", "", item, `cluster ${c} · ${sizes[c]}`);
    }
    if (other > 0) {
      let nOther = 0;
      for (let c = nDrawn; c < nClusters; c++) nOther += sizes[c];
      const o = htmlEl("span", "slt-ct-legend-other", legend);
      htmlEl("span", "slt-ct-swatch slt-ct-swatch-other", o);
      htmlEl("span", "", o, `other: ${other} small cluster${other === 1 ? "" : "s"} (${nOther} ${unit})`);
    }
    listen(legend, "click", (ev) => {
      const b = ev.target && ev.target.closest ? ev.target.closest("[data-cluster]") : null;
      if (!b) return;
      const c = Number(b.getAttribute("data-cluster"));
      if (c < 0) {                         // "whole class": always a request, even if nothing is selected here
        model.set("reset_clicks", Number(model.get("reset_clicks") ?? 0) + 1);
        model.set("selected", -1);
        model.save_changes();
        return;
      }
      choose(c === selected ? -1 : c);
    });

    // ---- keyboard
    if (order.length) {
      const cur = order.indexOf(selected);
      if (cur >= 0) focusIdx = cur;
      focusIdx = Math.min(Math.max(0, focusIdx), order.length - 1);
    }
    const showFocus = () => {
      for (const r of boxEls.values()) r.classList.remove("slt-ct-cluster-focus");
      if (!order.length) return;
      const r = boxEls.get(order[focusIdx]);
      r.classList.add("slt-ct-cluster-focus");
      svg.setAttribute("aria-activedescendant", r.id);
    };
    showFocus();
    listen(svg, "keydown", (ev) => {
      if (!order.length) return;
      const fwd = top ? ["ArrowRight", "ArrowDown"] : ["ArrowDown", "ArrowRight"];
      const back = top ? ["ArrowLeft", "ArrowUp"] : ["ArrowUp", "ArrowLeft"];
      if (fwd.includes(ev.key)) focusIdx = Math.min(order.length - 1, focusIdx + 1);
      else if (back.includes(ev.key)) focusIdx = Math.max(0, focusIdx - 1);
      else if (ev.key === "Home") focusIdx = 0;
      else if (ev.key === "End") focusIdx = order.length - 1;
      else if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        const c = order[focusIdx];
        choose(c === selected ? -1 : c);
        return;
      } else if (ev.key === "Escape") { choose(-1); return; } else return;
      ev.preventDefault();
      showFocus();
    });

    // ---- mouse
    listen(knob, "mousedown", (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      endDrag();
      let h = cut;
      const move = (e) => {
        const r = svg.getBoundingClientRect();
        const v = top ? e.clientY - r.top : e.clientX - r.left;
        h = Math.min(rootH, Math.max(hlo, pixToH(v)));
        placeCut(h);
        cutLabel.textContent = cutText(h, null);
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
      const hit = t && t.closest ? t.closest("[data-cluster]") : null;
      if (!hit) return;
      const c = Number(hit.getAttribute("data-cluster"));
      if (!(c >= 0 && c < nDrawn)) return; // grey and above-cut parts are not targets
      focusIdx = Math.max(0, order.indexOf(c));
      choose(c === selected ? -1 : c);   // click the selected cluster again to clear
    });
    if (hadFocus) svg.focus();
    hadFocus = false;
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
