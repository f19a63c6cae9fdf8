import test from "node:test";
import assert from "node:assert/strict";
import { setupDom, FakeModel, wire } from "./helpers.mjs";

const { default: widget, valueRange, fmtValue } = await import("../../slt_widgets/widgets/static/layer_profile.js");

function makeModel(extra = {}) {
  return new FakeModel({
    values: wire(Float32Array, [0.5, 0.6, NaN, 0.4, 0.7, 0.8], [2, 3]),
    layers: ["input", "HL1", "output"], names: ["small", "wide"], colors: ["#1f77b4", "#ff7f0e"],
    selectable: [false, true, true], selected: "HL1", title: "LDA accuracy", y_label: "", pending: false,
    width: 300, height: 150, error: "", ...extra,
  });
}

test("one line per net, a dot per defined value, the selected column marked", () => {
  setupDom();
  const el = document.getElementById("out");
  widget.render({ model: makeModel(), el });
  const root = el.querySelector(".slt-layer-profile");
  assert.equal(root.querySelectorAll("path.slt-lp-line").length, 2);
  assert.equal(root.querySelectorAll("circle.slt-lp-dot").length, 5);       // the NaN is skipped
  assert.deepEqual([...root.querySelectorAll(".slt-lp-selected")].map((r) => r.getAttribute("data-layer")), ["HL1"]);
  assert.equal(root.querySelector(".slt-lp-title").textContent, "LDA accuracy");
  assert.match(root.querySelector("circle.slt-lp-dot title").textContent, /^small · input: 0\.50$/);
});

test("a click on a selectable column selects it; a disabled column does nothing", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  const col = (l) => el.querySelector(`rect.slt-lp-col[data-layer="${l}"]`);
  col("output").dispatchEvent(new window.MouseEvent("click", { bubbles: true }));
  assert.equal(model.get("selected"), "output");
  assert.equal(model.saves, 1);
  col("input").dispatchEvent(new window.MouseEvent("click", { bubbles: true }));
  assert.equal(model.get("selected"), "output");
  assert.equal(model.saves, 1);
});

test("names reach the page as text, never as HTML; cleanup removes every listener", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel({ names: ["<img src=x onerror=alert(1)>", "b"] });
  const cleanup = widget.render({ model, el });
  assert.equal(el.querySelectorAll("img").length, 0);
  assert.match(el.querySelector(".slt-lp-legend").textContent, /<img src=x/);
  cleanup();
  assert.equal(model.nHandlers(), 0);
  assert.equal(el.querySelector(".slt-layer-profile"), null);
});

test("value range and number format", () => {
  assert.deepEqual(valueRange(Float32Array.from([NaN, NaN])), [0, 1]);
  assert.deepEqual(valueRange(Float32Array.from([2, 2])), [1, 3]);
  const [lo, hi] = valueRange(Float32Array.from([0, 10]));
  assert.ok(lo < 0 && hi > 10);
  assert.equal(fmtValue(123.4), "123");
  assert.equal(fmtValue(12.34), "12.3");
  assert.equal(fmtValue(0.1234), "0.12");
  assert.equal(fmtValue(NaN), "–");
});
