import test from "node:test";
import assert from "node:assert/strict";
import { setupDom, FakeModel, wire, mouse } from "./helpers.mjs";

const { default: widget, leafClusters, niceTicks } = await import("../../slt_widgets/widgets/static/cluster_tree.js");

// ((0, 1) at 1, (2, 3) at 2) at 3; cut 2.5 -> clusters {0, 1} = 0 and {2, 3} = 1
function makeModel(extra = {}) {
  return new FakeModel({
    _tree: wire(Float64Array, [0, 1, 1, 2, 2, 3, 2, 2, 4, 5, 3, 4], [3, 4]),
    _leaf_counts: wire(Int32Array, [1, 1, 1, 1], [4]),
    _leaf_heights: wire(Float64Array, [0, 0, 0, 0], [4]),
    _leaf_rep: wire(Int32Array, [0, 1, 2, 3], [4]),
    _leaf_labels: ["a", "b", "c", "d"],
    labels: wire(Int32Array, [0, 0, 1, 1], [4]),
    cut: 2.5, selected: -1, title: "toy", height_label: "distance", orientation: "top",
    width: 400, height: 320, error: "", ...extra,
  });
}

test("draws one link per merge, one label per leaf, coloured by cluster", () => {
  setupDom();
  const el = document.getElementById("out");
  widget.render({ model: makeModel(), el });
  const root = el.querySelector(".slt-cluster-tree");
  assert.ok(root);
  const links = root.querySelectorAll("path.slt-ct-link");
  assert.equal(links.length, 3);
  assert.deepEqual([...root.querySelectorAll(".slt-ct-leaf")].map((t) => t.textContent), ["a", "b", "c", "d"]);
  const stroke = (node) => root.querySelector(`path.slt-ct-link[data-node="${node}"]`).getAttribute("stroke");
  assert.equal(stroke(4), "#1f77b4"); // cluster 0
  assert.equal(stroke(5), "#ff7f0e"); // cluster 1
  assert.ok(root.querySelector('path.slt-ct-link[data-node="6"]').classList.contains("slt-ct-above"));
  assert.match(root.querySelector(".slt-ct-cut-label").textContent, /2 clusters/);
  // one click target per drawn cluster, covering its subtree, under the links
  const boxes = [...root.querySelectorAll("rect.slt-ct-cluster")];
  assert.deepEqual(boxes.map((b) => b.getAttribute("data-cluster")), ["0", "1"]);
  assert.equal(boxes[0].getAttribute("role"), "option");
});

test("a truncated leaf that is a whole cluster reads '#id · count'; grey clusters are 'other'", () => {
  setupDom();
  const el = document.getElementById("out");
  // two displayed leaves of 3 and 2 samples, then a singleton outlier: clusters 0, 1, 2
  const model = new FakeModel({
    _tree: wire(Float64Array, [0, 1, 2, 5, 3, 2, 3, 6], [2, 4]),
    _leaf_counts: wire(Int32Array, [3, 2, 1], [3]),
    _leaf_heights: wire(Float64Array, [0.5, 0.4, 0], [3]),
    _leaf_rep: wire(Int32Array, [0, 3, 5], [3]),
    _leaf_labels: ["(3)", "(2)", "5"],
    labels: wire(Int32Array, [0, 0, 0, 1, 1, 2], [6]),
    cut: 1.0, selected: -1, title: "t", height_label: "distance", orientation: "top",
    width: 400, height: 320, error: "", n_drawn: 2, max_leaves: 3, unit: "frames",
  });
  widget.render({ model, el });
  const texts = [...el.querySelectorAll(".slt-ct-leaf")].map((t) => t.textContent);
  assert.deepEqual(texts.sort(), ["#0 · 3", "#1 · 2", "5"].sort());
  assert.equal(el.querySelectorAll("rect.slt-ct-cluster").length, 2);
  assert.match(el.querySelector(".slt-ct-legend-other").textContent, /other: 1 small cluster \(1 frames\)/);
  assert.match(el.querySelector(".slt-ct-cut-label").textContent, /2 clusters \+ 1 small/);
  // "+ detail" doubles max_leaves (capped at n)
  el.querySelector(".slt-ct-expand").dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("max_leaves"), 6);
});

test("clicking a cluster's box or leaf selects it; again clears; above the cut does nothing", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  el.querySelector('rect.slt-ct-cluster[data-cluster="1"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), 1);
  assert.equal(model.saves, 1);
  assert.equal(el.querySelectorAll("path.slt-ct-selected").length, 1); // redrawn with the highlight
  el.querySelector('.slt-ct-leaf[data-node="0"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), 0);
  el.querySelector('path.slt-ct-link[data-node="6"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), 0, "the tree above the cut is not a target");
  el.querySelector('rect.slt-ct-cluster[data-cluster="0"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), -1);
  assert.equal(model.saves, 3);
});

test("the legend selects; the keyboard moves between clusters and Enter selects", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  el.querySelector('.slt-ct-legend-item[data-cluster="1"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), 1);
  el.querySelector(".slt-ct-legend-all").dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), -1);
  assert.equal(model.get("reset_clicks"), 1);
  el.querySelector(".slt-ct-legend-all").dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("reset_clicks"), 2, "a reset request even when nothing is selected in the tree");
  const svg = el.querySelector("svg.slt-ct-svg");
  assert.equal(svg.getAttribute("tabindex"), "0");
  assert.match(svg.getAttribute("aria-label"), /Arrow keys/);
  const key = (k) => svg.dispatchEvent(new window.KeyboardEvent("keydown", { key: k, bubbles: true }));
  key("ArrowRight");
  assert.equal(svg.getAttribute("aria-activedescendant"), el.querySelector('rect[data-cluster="1"]').id);
  key("Enter");
  assert.equal(model.get("selected"), 1);
  const svg2 = el.querySelector("svg.slt-ct-svg");
  svg2.dispatchEvent(new window.KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
  svg2.dispatchEvent(new window.KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  assert.equal(model.get("selected"), 0);
});

test("dragging the cut line sets cut (clamped to the root) and saves once on release", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  // plot spans y0 = 10 .. y1 = 320 - 62 = 258 for heights 0 .. 3 * 1.05 (jsdom: svg at 0, 0)
  const yOf = (h) => 258 - (h / 3.15) * 248;
  const handle = el.querySelector(".slt-ct-cut-handle");
  handle.dispatchEvent(mouse(window, "mousedown", 100, yOf(2.5)));
  window.dispatchEvent(mouse(window, "mousemove", 100, yOf(1.5)));
  assert.equal(model.saves, 0, "no round trip while dragging");
  assert.match(el.querySelector(".slt-ct-cut-label").textContent, /cut 1\.5/);
  assert.ok(handle.getAttribute("d").startsWith("M"), "the knob sits left of the axis");
  window.dispatchEvent(mouse(window, "mouseup", 100, yOf(1.5)));
  assert.ok(Math.abs(model.get("cut") - 1.5) < 1e-9, `cut = ${model.get("cut")}`);
  assert.equal(model.saves, 1);
  // dragging above the root clamps to the root height
  el.querySelector(".slt-ct-cut-handle").dispatchEvent(mouse(window, "mousedown", 100, yOf(1.5)));
  window.dispatchEvent(mouse(window, "mouseup", 100, -500));
  assert.equal(model.get("cut"), 3);
});

test("left orientation drags horizontally", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel({ orientation: "left" });
  widget.render({ model, el });
  // x0 = 16 .. x1 = 400 - 78 = 322, root at the left
  const xOf = (h) => 322 - (h / 3.15) * 306;
  el.querySelector(".slt-ct-cut-handle").dispatchEvent(mouse(window, "mousedown", xOf(2.5), 100));
  window.dispatchEvent(mouse(window, "mouseup", xOf(0.5), 100));
  assert.ok(Math.abs(model.get("cut") - 0.5) < 1e-9);
});

test("cleanup removes model handlers and an ongoing drag's window listeners", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  const cleanup = widget.render({ model, el });
  el.querySelector(".slt-ct-cut-handle").dispatchEvent(mouse(window, "mousedown", 100, 100));
  cleanup();
  assert.equal(model.nHandlers(), 0);
  window.dispatchEvent(mouse(window, "mouseup", 100, 200));
  assert.equal(model.saves, 0);
  assert.equal(model.get("cut"), 2.5);
  assert.equal(el.children.length, 0);
});

test("helpers: split displayed leaves get -1, ticks are round", () => {
  assert.deepEqual(Array.from(leafClusters([0, 1, 1], [0, 2], [0, 4], 3)), [0, -1]);
  assert.deepEqual(niceTicks(3), [0, 1, 2, 3]);
});
