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
  assert.equal(stroke(6), "#555555"); // above the cut
  assert.match(root.querySelector(".slt-ct-cut-label").textContent, /2 clusters/);
});

test("clicking a branch selects its cluster; above the cut clears", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  el.querySelector('path.slt-ct-hit[data-node="5"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), 1);
  assert.equal(model.saves, 1);
  assert.equal(el.querySelectorAll("path.slt-ct-selected").length, 1); // redrawn with the highlight
  el.querySelector('.slt-ct-leaf[data-node="0"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), 0);
  el.querySelector('path.slt-ct-hit[data-node="6"]').dispatchEvent(mouse(window, "click", 0, 0));
  assert.equal(model.get("selected"), -1);
  assert.equal(model.saves, 3);
});

test("dragging the cut line sets cut (clamped to the root) and saves once on release", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  // plot spans y0 = 30 .. y1 = 320 - 64 = 256 for heights 0 .. 3 * 1.05
  const yOf = (h) => 256 - (h / 3.15) * 226;
  const handle = el.querySelector(".slt-ct-cut-handle");
  handle.dispatchEvent(mouse(window, "mousedown", 100, yOf(2.5)));
  window.dispatchEvent(mouse(window, "mousemove", 100, yOf(1.5)));
  assert.equal(model.saves, 0, "no round trip while dragging");
  assert.match(el.querySelector(".slt-ct-cut-label").textContent, /cut 1\.5/);
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
  // x0 = 16 .. x1 = 400 - 96 = 304, root at the left
  const xOf = (h) => 304 - (h / 3.15) * 288;
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
