import test from "node:test";
import assert from "node:assert/strict";
import { setupDom, FakeModel } from "./helpers.mjs";

const { default: widget } = await import("../../slt_widgets/widgets/static/aria_label.js");
const tick = () => new Promise((r) => setTimeout(r, 40));

test("names the box it is inserted into, once attached, and follows the label", async () => {
  setupDom();
  const box = document.getElementById("out");
  const model = new FakeModel({ label: "embedding MDS of SLTs · 3: 170 points in 3 colours", role: "figure" });
  const el = document.createElement("div");
  const cleanup = widget.render({ model, el });      // as ipywidgets does: rendered before insertion
  assert.equal(box.getAttribute("aria-label"), null);
  box.appendChild(el);
  await tick();
  assert.equal(box.getAttribute("role"), "figure");
  assert.equal(box.getAttribute("aria-label"), "embedding MDS of SLTs · 3: 170 points in 3 colours");
  assert.ok(el.hidden && el.classList.contains("slt-aria-label"));
  model.set("label", "embedding t-SNE of SLTs · 7: 180 points in 4 colours");
  assert.equal(box.getAttribute("aria-label"), "embedding t-SNE of SLTs · 7: 180 points in 4 colours");
  model.set("role", "region");
  assert.equal(box.getAttribute("role"), "region");
  cleanup();
  assert.equal(model.nHandlers(), 0);
});

test("a label is an attribute value, never markup; an unknown role falls back to region", async () => {
  setupDom();
  const box = document.getElementById("out");
  const evil = "<img src=x onerror=alert(1)>";
  const el = document.createElement("div");
  box.appendChild(el);
  widget.render({ model: new FakeModel({ label: evil, role: "button" }), el });
  assert.equal(box.getAttribute("aria-label"), evil);
  assert.equal(box.getAttribute("role"), "region");
  assert.equal(box.querySelector("img"), null);
});

test("a view removed before it is attached stops waiting and labels nothing later", async () => {
  setupDom();
  const box = document.getElementById("out");
  const ctl = new AbortController();
  const el = document.createElement("div");
  const cleanup = widget.render({ model: new FakeModel({ label: "x", role: "figure" }), el, signal: ctl.signal });
  ctl.abort();
  cleanup();
  box.appendChild(el);
  await tick();
  assert.equal(box.getAttribute("aria-label"), null);
});
