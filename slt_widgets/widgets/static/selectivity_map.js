// SelectivityMap: class selectivity heatmap [K × M] in clustered order with both dendrograms.
import { arrayFromJson } from "./codec.js";
import { errorBanner, listenerSet } from "./dom.js";
import { ABOVE_CUT, DIVERGING, SEQUENTIAL, clusterColor, colorAt, colorLimits, fmt } from "./colormaps.js";
import { layoutDendrogram, linkPath, nodeClusters } from "./dendrogram.js";

const SM_SVG = "http://www.w3.org/2000/svg";
const SM_KEYS = ["csv", "row_order", "col_order", "row_linkage", "col_linkage", "row_leaves", "col_leaves",
  "col_labels", "col_cut", "class_names", "selected_node", "selected_class", "layer_title", "normalize",
  "width", "error"];

function smEl(tag, attrs, parent) {
  const e = document.createElementNS(SM_SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/**
 * Display matrix in clustered order: out[r * M + c] = csv[rowOrder[r], colOrder[c]], each column
 * divided by its max |value| when mode is "column" (mirrors _static_png.normalize_columns).
 * @param {ArrayLike<number>} csv [K * M] @param {number} K @param {number} M
 * @param {ArrayLike<number>} rowOrder [K] @param {ArrayLike<number>} colOrder [M] @param {string} mode
 * @returns {Float32Array} [K * M]
 */
export function orderedValues(csv, K, M, rowOrder, colOrder, mode) {
  const scale = new Float32Array(M).fill(1);
  if (mode === "column") {
    for (let j = 0; j < M; j++) {
      let a = 0;
      for (let k = 0; k < K; k++) a = Math.max(a, Math.abs(csv[k * M + j]));
      if (a > 0) scale[j] = a;
    }
  }
  const out = new Float32Array(K * M);
  for (let r = 0; r < K; r++) {
    for (let c = 0; c < M; c++) {
      const j = colOrder[c];
      out[r * M + c] = csv[rowOrder[r] * M + j] / scale[j];
    }
  }
  return out;
}

/** @param {{model: any, el: HTMLElement}} ctx */
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "slt-selectivity-map";
  el.appendChild(root);
  root.setAttribute("role", "group");
  const { listen, clear: unlistenAll } = listenerSet();
  // keyboard cursor in display positions (row of rowOrder, column of colOrder); survives redraws
  const cursor = { row: 0, col: 0 };

  function draw() {
    const hadFocus = root.contains(document.activeElement) && document.activeElement !== root;
    unlistenAll();
    root.replaceChildren();
    errorBanner(root, model.get("error"));
    const csv = arrayFromJson(model.get("csv"));
    const rowOrder = arrayFromJson(model.get("row_order"));
    const colOrder = arrayFromJson(model.get("col_order"));
    if (!csv || !rowOrder || !colOrder || csv.shape.length !== 2) return;
    const [K, M] = csv.shape;
    if (rowOrder.data.length !== K || colOrder.data.length !== M) return;
    const rowZ = arrayFromJson(model.get("row_linkage"));
    const colZ = arrayFromJson(model.get("col_linkage"));
    const colLeaves = arrayFromJson(model.get("col_leaves"));
    const colLabels = arrayFromJson(model.get("col_labels"));
    const colCut = model.get("col_cut");
    const names = model.get("class_names") ?? [];
    const selNode = Number(model.get("selected_node")), selClass = Number(model.get("selected_class"));
    const vals = orderedValues(csv.data, K, M, rowOrder.data, colOrder.data, model.get("normalize") ?? "column");
    let vmin = Infinity;
    for (let i = 0; i < vals.length; i++) vmin = Math.min(vmin, vals[i]);
    const diverging = vmin < 0;
    const [lo, hi] = colorLimits(vals, diverging);
    const stops = diverging ? DIVERGING : SEQUENTIAL;

    const W = model.get("width") || 760;
    const hasRow = rowZ && rowZ.shape[0] > 0, hasCol = colZ && colZ.shape[0] > 0;
    const LD = hasRow ? 90 : 4, TD = hasCol ? 90 : 16, TT = 24, LW = 56, CB = 10, CBT = 40;
    const heatX = LD + 4, heatY = TT + TD + 4;
    const heatW = Math.max(40, W - heatX - LW - CB - CBT - 8);
    const rh = Math.max(6, Math.min(18, Math.floor(440 / K)));
    const heatH = K * rh, colW = heatW / M;
    const H = heatY + heatH + 26;

    const title = model.get("layer_title") || "class selectivity";
    root.setAttribute("aria-label", `Selectivity map ${title}: ${K} classes by ${M} nodes`);
    const box = document.createElement("div");
    box.className = "slt-sm-box";
    Object.assign(box.style, { width: `${W}px`, height: `${H}px` });
    // the heatmap is one tab stop: arrows move a cursor between classes (rows) and nodes
    // (columns), Enter or Space selects the cell, Escape clears the selection
    box.tabIndex = 0;
    box.setAttribute("role", "application");
    box.setAttribute("aria-roledescription", "heatmap");
    box.setAttribute("aria-label", `${title}: ${K} classes by ${M} nodes. Arrow keys move between classes `
      + "and nodes, Home and End jump to the first and last node, Enter selects, Escape clears.");
    root.appendChild(box);
    const svg = smEl("svg", { class: "slt-sm-svg", width: W, height: H }, box);
    svg.setAttribute("aria-hidden", "true");   // the box and the readout say it in words
    smEl("text", { class: "slt-sm-title", x: heatX + heatW / 2, y: 16, "text-anchor": "middle" }, svg)
      .textContent = title;

    // class dendrogram (root left, leaves touching the rows)
    if (hasRow) {
      const m = rowZ.shape[0] + 1, lay = layoutDendrogram(rowZ.data, m);
      let top = 0;
      for (let k = 0; k < m - 1; k++) top = Math.max(top, rowZ.data[4 * k + 2]);
      const toXY = (pos, h) => [LD - (h / (top * 1.05 || 1)) * (LD - 4), heatY + (pos + 0.5) * rh];
      let d = "";
      for (let k = 0; k < m - 1; k++) d += linkPath(rowZ.data, m, k, lay, toXY);
      smEl("path", { class: "slt-sm-row-dendro", d }, svg);
    }
    // node dendrogram (root on top), links below col_cut coloured by node cluster
    let nLive = M;
    if (hasCol) {
      const m = colZ.shape[0] + 1, lay = layoutDendrogram(colZ.data, m);
      nLive = m;
      let top = 0;
      for (let k = 0; k < m - 1; k++) top = Math.max(top, colZ.data[4 * k + 2]);
      const hmax = top * 1.05 || 1;
      const toXY = (pos, h) => [heatX + (pos + 0.5) * colW, heatY - 2 - (h / hmax) * (TD - 6)];
      const leafCl = new Int32Array(m);
      for (let i = 0; i < m; i++) leafCl[i] = colLabels && colLeaves ? colLabels.data[colLeaves.data[i]] : -1;
      const cut = colCut === null || colCut === undefined ? -1 : Number(colCut);
      const ncl = nodeClusters(colZ.data, m, leafCl, cut);
      const byColor = new Map();
      for (let k = 0; k < m - 1; k++) {
        const c = ncl[m + k], color = c >= 0 ? clusterColor(c) : ABOVE_CUT;
        byColor.set(color, (byColor.get(color) ?? "") + linkPath(colZ.data, m, k, lay, toXY));
      }
      for (const [color, d] of byColor) smEl("path", { class: "slt-sm-col-dendro", d, stroke: color }, svg);
      if (cut >= 0 && cut <= hmax) {
        const y = heatY - 2 - (cut / hmax) * (TD - 6);
        smEl("line", { class: "slt-sm-cut", x1: heatX, x2: heatX + heatW, y1: y, y2: y }, svg);
        smEl("text", { class: "slt-sm-cut-label", x: heatX - 4, y: y + 3, "text-anchor": "end" }, svg)
          .textContent = `cut ${fmt(cut)}`;
      }
    }
    if (nLive < M) { // dead nodes have no leaf: mark their columns
      const x = heatX + nLive * colW;
      smEl("rect", { class: "slt-sm-dead", x, y: heatY - 12, width: (M - nLive) * colW, height: 10 }, svg);
      smEl("text", { class: "slt-sm-dead-label", x: heatX + heatW, y: heatY - 15, "text-anchor": "end" }, svg)
        .textContent = `${M - nLive} dead`;
    }
    // class names on the right
    const labelG = smEl("g", { class: "slt-sm-classes" }, svg);
    for (let r = 0; r < K; r++) {
      const k = rowOrder.data[r];
      const t = smEl("text", { class: "slt-sm-class" + (k === selClass ? " slt-sm-on" : ""),
        x: heatX + heatW + 4, y: heatY + (r + 0.5) * rh, dy: "0.32em", "data-class": k }, labelG);
      t.textContent = names[k] ?? String(k);
      if (rh < 10) t.style.fontSize = `${rh}px`;
    }
    smEl("rect", { class: "slt-sm-frame", x: heatX - 0.5, y: heatY - 0.5, width: heatW + 1, height: heatH + 1 }, svg);
    smEl("text", { class: "slt-sm-axis-label", x: heatX + heatW / 2, y: heatY + heatH + 16, "text-anchor": "middle" }, svg)
      .textContent = `nodes in clustered order (${M})`;
    // selection outlines
    const cNode = selNode >= 0 ? colOrder.data.indexOf(selNode) : -1;
    const rClass = selClass >= 0 ? rowOrder.data.indexOf(selClass) : -1;
    if (cNode >= 0) smEl("rect", { class: "slt-sm-selection", x: heatX + cNode * colW - 1, y: heatY - 1,
      width: Math.max(2, colW) + 2, height: heatH + 2 }, svg);
    if (rClass >= 0) smEl("rect", { class: "slt-sm-selection", x: heatX - 1, y: heatY + rClass * rh - 1,
      width: heatW + 2, height: rh + 2 }, svg);
    // colour bar
    const cbx = heatX + heatW + LW;
    smEl("rect", { class: "slt-sm-frame", x: cbx - 0.5, y: heatY - 0.5, width: CB + 1, height: heatH + 1 }, svg);
    for (const v of diverging ? [lo, 0, hi] : [lo, (lo + hi) / 2, hi]) {
      const y = heatY + heatH - ((v - lo) / (hi - lo)) * heatH;
      smEl("line", { class: "slt-sm-tick", x1: cbx + CB, x2: cbx + CB + 3, y1: y, y2: y }, svg);
      smEl("text", { class: "slt-sm-ticklabel", x: cbx + CB + 5, y: y + 3 }, svg).textContent = fmt(v);
    }
    const canvas = document.createElement("canvas");
    canvas.className = "slt-sm-canvas";
    canvas.width = M; canvas.height = K;
    Object.assign(canvas.style, { left: `${heatX}px`, top: `${heatY}px`, width: `${heatW}px`, height: `${heatH}px` });
    box.appendChild(canvas);
    const ctx = canvas.getContext && canvas.getContext("2d");
    if (ctx) {
      const img = ctx.createImageData(M, K);
      for (let i = 0; i < K * M; i++) {
        const [R, G, B] = colorAt(stops, (vals[i] - lo) / (hi - lo));
        img.data[4 * i] = R; img.data[4 * i + 1] = G; img.data[4 * i + 2] = B; img.data[4 * i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    const cbar = document.createElement("canvas");
    cbar.className = "slt-sm-colorbar";
    cbar.width = 1; cbar.height = 64;
    Object.assign(cbar.style, { left: `${cbx}px`, top: `${heatY}px`, width: `${CB}px`, height: `${heatH}px` });
    box.appendChild(cbar);
    const cctx = cbar.getContext && cbar.getContext("2d");
    if (cctx) {
      const img = cctx.createImageData(1, 64);
      for (let y = 0; y < 64; y++) img.data.set([...colorAt(stops, 1 - y / 63), 255], 4 * y);
      cctx.putImageData(img, 0, 0);
    }
    const readout = document.createElement("div");
    readout.className = "slt-sm-readout";
    readout.setAttribute("aria-live", "polite");
    readout.textContent = "\u00a0";
    root.appendChild(readout);
    const describe = (row, c) => {
      const k = rowOrder.data[row], j = colOrder.data[c];
      return `class ${names[k] ?? k} · node ${j} · mean activation ${fmt(csv.data[k * M + j])}`
        + (model.get("normalize") === "column" ? ` (scaled ${fmt(vals[row * M + c])})` : "");
    };
    // keyboard cursor: a dashed outline on the cell, drawn only while the heatmap has focus
    cursor.row = Math.min(cursor.row, K - 1);
    cursor.col = Math.min(cursor.col, M - 1);
    const cursorRect = smEl("rect", { class: "slt-sm-cursor", width: Math.max(2, colW) + 2, height: rh + 2,
      visibility: "hidden" }, svg);
    const showCursor = () => {
      cursorRect.setAttribute("x", heatX + cursor.col * colW - 1);
      cursorRect.setAttribute("y", heatY + cursor.row * rh - 1);
      cursorRect.setAttribute("visibility", "visible");
      readout.textContent = describe(cursor.row, cursor.col);
    };
    listen(box, "focus", showCursor);
    listen(box, "blur", () => { cursorRect.setAttribute("visibility", "hidden"); });
    listen(box, "keydown", (ev) => {
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (moves[ev.key]) {
        const [dr, dc] = moves[ev.key];
        cursor.row = Math.max(0, Math.min(K - 1, cursor.row + dr));
        cursor.col = Math.max(0, Math.min(M - 1, cursor.col + dc));
      } else if (ev.key === "Home" || ev.key === "End") {
        cursor.col = ev.key === "Home" ? 0 : M - 1;
      } else if (ev.key === "Enter" || ev.key === " ") {
        model.set("selected_class", rowOrder.data[cursor.row]);
        model.set("selected_node", colOrder.data[cursor.col]);
        model.save_changes();
      } else if (ev.key === "Escape") {
        model.set("selected_class", -1);
        model.set("selected_node", -1);
        model.save_changes();
      } else {
        return;                                   // Tab and everything else keep their meaning
      }
      ev.preventDefault();
      if (box.isConnected) showCursor();
    });
    if (hadFocus) box.focus();

    const cellAt = (ev) => {
      const r = canvas.getBoundingClientRect();
      const c = Math.floor(((ev.clientX - r.left) / r.width) * M);
      const row = Math.floor(((ev.clientY - r.top) / r.height) * K);
      return c >= 0 && c < M && row >= 0 && row < K ? [row, c] : null;
    };
    listen(canvas, "mousemove", (ev) => {
      const cell = cellAt(ev);
      if (!cell) return;
      readout.textContent = describe(cell[0], cell[1]);
    });
    listen(canvas, "mouseleave", () => { readout.textContent = "\u00a0"; });
    listen(canvas, "click", (ev) => {
      const cell = cellAt(ev);
      if (!cell) return;
      [cursor.row, cursor.col] = cell;             // the keyboard continues from the clicked cell
      model.set("selected_class", rowOrder.data[cell[0]]);
      model.set("selected_node", colOrder.data[cell[1]]);
      model.save_changes();
    });
    listen(labelG, "click", (ev) => {
      const t = ev.target && ev.target.closest ? ev.target.closest("[data-class]") : null;
      if (!t) return;
      const k = Number(t.getAttribute("data-class"));
      model.set("selected_class", k === selClass ? -1 : k);
      model.save_changes();
    });
  }

  const onChange = () => draw();
  for (const k of SM_KEYS) model.on(`change:${k}`, onChange);
  draw();
  return () => {
    for (const k of SM_KEYS) model.off(`change:${k}`, onChange);
    unlistenAll();
    root.remove();
  };
}

export default { render };
