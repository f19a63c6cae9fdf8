import test from "node:test";
import assert from "node:assert/strict";
import { setupDom, FakeModel, wire, mouse } from "./helpers.mjs";

const { default: widget, orderedValues } = await import("../../slt_widgets/widgets/static/selectivity_map.js");

// K = 3 classes x M = 4 nodes; node 3 is dead (no leaf in the node dendrogram)
function makeModel(extra = {}) {
  const csv = [1, 0, 2, 0, 0, 4, 2, 0, 1, 4, 0, 0];
  return new FakeModel({
    csv: wire(Float32Array, csv, [3, 4]),
    row_order: wire(Int32Array, [2, 0, 1], [3]),
    col_order: wire(Int32Array, [1, 0, 2, 3], [4]),
    row_linkage: wire(Float64Array, [0, 1, 0.5, 2, 2, 3, 0.9, 3], [2, 4]),
    row_leaves: wire(Int32Array, [2, 0, 1], [3]),
    col_linkage: wire(Float64Array, [1, 2, 0.3, 2, 0, 3, 0.8, 3], [2, 4]),
    col_leaves: wire(Int32Array, [0, 1, 2], [3]),
    col_labels: wire(Int32Array, [1, 0, 0, -1], [4]),
    col_cut: 0.5, class_names: ["aa", "b", "c"], selected_node: -1, selected_class: -1,
    layer_title: "hidden layer 1", normalize: "column", width: 500, error: "", ...extra,
  });
}

test("orderedValues reorders rows/columns and scales each column by its max |value|", () => {
  const v = orderedValues(Float32Array.from([1, -2, 3, 4]), 2, 2, [1, 0], [1, 0], "column");
  assert.deepEqual(Array.from(v), [1, 1, -0.5, Math.fround(1 / 3)]);
  const raw = orderedValues(Float32Array.from([1, -2, 3, 4]), 2, 2, [0, 1], [0, 1], "none");
  assert.deepEqual(Array.from(raw), [1, -2, 3, 4]);
});

test("renders the heatmap, both dendrograms, class labels in row order and the dead mark", () => {
  const dom = setupDom();
  const el = document.getElementById("out");
  widget.render({ model: makeModel(), el });
  const root = el.querySelector(".slt-selectivity-map");
  assert.ok(root);
  assert.equal(root.querySelectorAll("path.slt-sm-row-dendro").length, 1);
  assert.ok(root.querySelectorAll("path.slt-sm-col-dendro").length >= 1);
  assert.deepEqual([...root.querySelectorAll(".slt-sm-class")].map((t) => t.textContent), ["c", "aa", "b"]);
  assert.match(root.querySelector(".slt-sm-dead-label").textContent, /1 dead/);
  assert.equal(root.querySelector(".slt-sm-title").textContent, "hidden layer 1");
  const ctx = dom.contexts.find((c) => c.canvas.className === "slt-sm-canvas");
  assert.equal(ctx.puts[0].img.width, 4);
  assert.equal(ctx.puts[0].img.height, 3);
  // the col dendrogram link of nodes 1, 2 (height 0.3 <= cut) has cluster 0's colour
  const strokes = [...root.querySelectorAll("path.slt-sm-col-dendro")].map((p) => p.getAttribute("stroke"));
  assert.ok(strokes.includes("#1f77b4"));
});

test("clicking a cell selects its node and class; clicking a class name toggles the class", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  const canvas = el.querySelector("canvas.slt-sm-canvas");
  canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 400, height: 300 });
  // column position 0 -> node col_order[0] = 1; row position 1 -> class row_order[1] = 0
  canvas.dispatchEvent(mouse(window, "click", 50, 150));
  assert.equal(model.get("selected_node"), 1);
  assert.equal(model.get("selected_class"), 0);
  assert.equal(model.saves, 1);
  assert.equal(el.querySelectorAll(".slt-sm-selection").length, 2);
  const cls = el.querySelector('.slt-sm-class[data-class="0"]');
  cls.dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected_class"), -1);
  el.querySelector('.slt-sm-class[data-class="2"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected_class"), 2);
});

test("hover reads out class, node and mean activation; cleanup detaches", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  const cleanup = widget.render({ model, el });
  const canvas = el.querySelector("canvas.slt-sm-canvas");
  canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 400, height: 300 });
  canvas.dispatchEvent(mouse(window, "mousemove", 50, 250)); // row 2 -> class 1 "b", col 0 -> node 1
  const ro = el.querySelector(".slt-sm-readout");
  assert.equal(ro.textContent, "class b · node 1 · mean activation 4 (scaled 1)");
  cleanup();
  assert.equal(model.nHandlers(), 0);
  assert.equal(el.children.length, 0);
  canvas.dispatchEvent(mouse(window, "click", 50, 150));
  assert.equal(model.saves, 0);
});

function key(win, k) {
  return new win.KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true });
}

test("keyboard: Tab stop, arrows move between classes and nodes, Enter selects, Escape clears", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  const root = el.querySelector(".slt-selectivity-map");
  assert.match(root.getAttribute("aria-label"), /Selectivity map hidden layer 1: 3 classes by 4 nodes/);
  const box = () => el.querySelector(".slt-sm-box");
  assert.equal(box().tabIndex, 0);
  assert.equal(box().getAttribute("role"), "application");
  box().focus();
  assert.equal(document.activeElement, box());
  const cur = () => el.querySelector(".slt-sm-cursor");
  assert.equal(cur().getAttribute("visibility"), "visible");
  const ro = () => el.querySelector(".slt-sm-readout").textContent;
  assert.match(ro(), /^class c · node 1 /);                 // row 0 = class 2 "c", column 0 = node 1
  box().dispatchEvent(key(window, "ArrowDown"));
  box().dispatchEvent(key(window, "ArrowRight"));
  box().dispatchEvent(key(window, "ArrowRight"));
  assert.match(ro(), /^class aa · node 2 /);                // row 1 = class 0, column 2 = node 2
  box().dispatchEvent(key(window, "ArrowUp"));
  box().dispatchEvent(key(window, "ArrowUp"));              // clamps at the first row
  box().dispatchEvent(key(window, "End"));
  assert.match(ro(), /^class c · node 3 /);
  box().dispatchEvent(key(window, "ArrowDown"));
  const ev = key(window, "Enter");
  box().dispatchEvent(ev);
  assert.ok(ev.defaultPrevented);
  assert.equal(model.get("selected_class"), 0);
  assert.equal(model.get("selected_node"), 3);
  assert.equal(model.saves, 1);
  // the redraw keeps the focus and the cursor where they were
  assert.equal(document.activeElement, box());
  assert.match(ro(), /^class aa · node 3 /);
  assert.equal(el.querySelectorAll(".slt-sm-selection").length, 2);
  box().dispatchEvent(key(window, "Escape"));
  assert.equal(model.get("selected_class"), -1);
  assert.equal(model.get("selected_node"), -1);
  const tab = key(window, "Tab");
  box().dispatchEvent(tab);
  assert.ok(!tab.defaultPrevented, "Tab must leave the heatmap");
  box().dispatchEvent(new window.FocusEvent("blur"));
  assert.equal(cur().getAttribute("visibility"), "hidden");
});
