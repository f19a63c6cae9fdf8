import test from "node:test";
import assert from "node:assert/strict";
import { setupDom, FakeModel, wire, mouse } from "./helpers.mjs";

const { default: widget, tickIndices, headingText } = await import("../../slt_widgets/widgets/static/template_panel.js");

function makeModel(extra = {}) {
  // 2 panels of 3 bands x 4 frames; panel 0 is an SLT with +2 at (band 0, frame 0), -1 at (band 2, frame 3)
  const P = 2, H = 3, W = 4;
  const vals = new Float32Array(P * H * W);
  vals[0] = 2; vals[2 * W + 3] = -1;
  for (let i = 0; i < H * W; i++) vals[H * W + i] = i; // panel 1: features 0..11
  return new FakeModel({
    images: wire(Float32Array, vals, [P, H, W]), titles: ["SLT", "features"], kinds: ["slt", "features"],
    shared_scale: false, count: 314, count_unit: "frames", title: "/t/ cluster 2", x_label: "frame offset",
    y_label: "mel band", x_ticks: null, y_ticks: null, columns: 0, pixel_size: 10, error: "", ...extra,
  });
}

test("renders one panel per image with root class, heading, canvases and colour bars", () => {
  const dom = setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  widget.render({ model, el });
  const root = el.querySelector(".slt-template-panel");
  assert.ok(root);
  assert.equal(root.querySelectorAll(".slt-tp-panel").length, 2);
  assert.equal(root.querySelector(".slt-tp-heading").textContent, "/t/ cluster 2 — 314 frames");
  assert.equal(root.querySelectorAll("canvas.slt-tp-canvas").length, 2);
  assert.equal(root.querySelectorAll("canvas.slt-tp-colorbar").length, 2);
  assert.deepEqual([...root.querySelectorAll(".slt-tp-title")].map((t) => t.textContent), ["SLT", "features"]);
  assert.ok(root.querySelector(".slt-tp-panel.slt-tp-slt") && root.querySelector(".slt-tp-panel.slt-tp-features"));
  // the heatmap canvas is W x H cells; band 0 is painted in the BOTTOM row, positive = red
  const ctx = dom.contexts.find((c) => c.canvas.className === "slt-tp-canvas");
  const img = ctx.puts[0].img;
  assert.equal(img.width, 4); assert.equal(img.height, 3);
  const px = (x, y) => Array.from(img.data.slice(4 * (y * 4 + x), 4 * (y * 4 + x) + 3));
  const [r, , b] = px(0, 2);
  assert.ok(r > b + 50, `bottom-left should be red, got ${px(0, 2)}`);
  const [r2, , b2] = px(3, 0);
  assert.ok(b2 > r2, `top-right (-1) should be blue, got ${px(3, 0)}`);
  // axis labels present
  const labels = [...root.querySelectorAll(".slt-tp-label")].map((t) => t.textContent);
  assert.ok(labels.includes("frame offset") && labels.includes("mel band"));
});

test("hover shows band, frame offset and value; leaving clears it", () => {
  setupDom();
  const el = document.getElementById("out");
  widget.render({ model: makeModel(), el });
  const canvas = el.querySelector("canvas.slt-tp-canvas");
  canvas.getBoundingClientRect = () => ({ left: 100, top: 50, width: 40, height: 30, right: 140, bottom: 80 });
  // bottom-left cell: band 0, frame index 0 -> centred offset -1 (4 frames: -1, 0, 1, 2)
  canvas.dispatchEvent(mouse(window, "mousemove", 103, 77));
  const ro = el.querySelector(".slt-tp-readout");
  assert.equal(ro.textContent, "SLT: mel band 0, frame offset -1 → 2");
  assert.equal(ro.dataset.row, "0");
  canvas.dispatchEvent(mouse(window, "mouseleave", 0, 0));
  assert.equal(ro.textContent.trim(), "");
});

test("redraws on change and cleanup removes listeners and DOM", () => {
  setupDom();
  const el = document.getElementById("out");
  const model = makeModel();
  const cleanup = widget.render({ model, el });
  assert.ok(model.nHandlers() > 0);
  model.set("titles", ["A", "B"]);
  assert.deepEqual([...el.querySelectorAll(".slt-tp-title")].map((t) => t.textContent), ["A", "B"]);
  model.set("error", "bad value");
  assert.equal(el.querySelector(".slt-error").textContent, "bad value");
  const canvas = el.querySelector("canvas.slt-tp-canvas");
  const ro = el.querySelector(".slt-tp-readout");
  cleanup();
  assert.equal(model.nHandlers(), 0);
  assert.equal(el.querySelector(".slt-template-panel"), null);
  canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 40, height: 30 });
  canvas.dispatchEvent(mouse(window, "mousemove", 3, 27));
  assert.equal(ro.textContent.trim(), "", "no hover handler may survive cleanup");
});

test("ticks anchor on 0 and the heading omits a missing count", () => {
  assert.deepEqual(tickIndices(11, [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5], 4), [2, 5, 8]);
  assert.equal(headingText("digits", null, "frames"), "digits");
  assert.equal(headingText("", 3, "images"), "3 images");
});

test("origin 'upper' puts row 0 at the top (images) and the read-out follows", () => {
  const dom = setupDom();
  const el = document.getElementById("out");
  widget.render({ model: makeModel({ origin: "upper" }), el });
  const img = dom.contexts.find((c) => c.canvas.className === "slt-tp-canvas").puts[0].img;
  const [r, , b] = Array.from(img.data.slice(0, 3)); // top-left pixel = data row 0, column 0 = +2
  assert.ok(r > b + 50);
  const canvas = el.querySelector("canvas.slt-tp-canvas");
  canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 40, height: 30 });
  canvas.dispatchEvent(mouse(window, "mousemove", 3, 2));
  assert.equal(el.querySelector(".slt-tp-readout").dataset.row, "0");
});

test("the panel has an accessible name from its heading and titles", async () => {
  const { default: tp } = await import("../../slt_widgets/widgets/static/template_panel.js");
  const { setupDom: sd, FakeModel: FM, wire: w } = await import("./helpers.mjs");
  sd();
  const el = document.getElementById("out");
  tp.render({ model: new FM({ images: w(Float32Array, [0, 1, 2, 3], [1, 2, 2]), titles: ["mean SLT"], kinds: ["slt"],
    shared_scale: false, count: 5, count_unit: "frames", title: "/t/", x_label: "", y_label: "",
    x_ticks: null, y_ticks: null, columns: 0, pixel_size: 0, origin: "lower", error: "" }), el });
  const root = el.querySelector(".slt-template-panel");
  assert.equal(root.getAttribute("role"), "figure");
  assert.match(root.getAttribute("aria-label"), /^Templates \/t\/ — 5 frames: mean SLT$/);
});
