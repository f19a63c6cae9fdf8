import test from "node:test";
import assert from "node:assert/strict";
import { arrayFromJson, arrayToJson } from "../../slt_widgets/widgets/static/codec.js";
import { colorAt, colorLimits, DIVERGING } from "../../slt_widgets/widgets/static/colormaps.js";
import { layoutDendrogram, nodeClusters } from "../../slt_widgets/widgets/static/dendrogram.js";

test("decodes little-endian float32 bytes written by Python into the right values and shape", () => {
  // np.array([[1.5, -2.0, 0.25], [0, 8, -0.5]], "<f4").tobytes()
  const bytes = new Uint8Array([0, 0, 192, 63, 0, 0, 0, 192, 0, 0, 128, 62, 0, 0, 0, 0, 0, 0, 0, 65, 0, 0, 0, 191]);
  const out = arrayFromJson({ view: new DataView(bytes.buffer), dtype: "float32", shape: [2, 3] });
  assert.ok(out.data instanceof Float32Array);
  assert.deepEqual(out.shape, [2, 3]);
  assert.deepEqual(Array.from(out.data), [1.5, -2, 0.25, 0, 8, -0.5]);
});

test("handles an unaligned DataView (copies) and round-trips every dtype", () => {
  const raw = new Uint8Array(3 + 16);
  const src = new Float64Array([Math.PI, -1e300]);
  raw.set(new Uint8Array(src.buffer), 3);
  const out = arrayFromJson({ view: new DataView(raw.buffer, 3, 16), dtype: "float64", shape: [2] });
  assert.deepEqual(Array.from(out.data), [Math.PI, -1e300]);
  for (const T of [Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array]) {
    const a = T.from([1, 2, 3, 4, 5, 6]);
    const back = arrayFromJson(arrayToJson(a, [3, 2]));
    assert.ok(back.data instanceof T);
    assert.deepEqual(Array.from(back.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(back.shape, [3, 2]);
  }
});

test("rejects malformed values with a message", () => {
  assert.equal(arrayFromJson(null), null);
  assert.throws(() => arrayFromJson({ view: new DataView(new ArrayBuffer(8)), dtype: "int64", shape: [1] }), /dtype/);
  assert.throws(() => arrayFromJson({ view: new DataView(new ArrayBuffer(8)), dtype: "float32", shape: [3] }), /bytes/);
  assert.throws(() => arrayFromJson({ view: "abc", dtype: "float32", shape: [1] }), /DataView/);
});

test("colour helpers: symmetric diverging limits, endpoints and centre of the diverging map", () => {
  assert.deepEqual(colorLimits(Float32Array.from([-1, 3]), true), [-3, 3]);
  assert.deepEqual(colorLimits(Float32Array.from([2, 5]), false), [2, 5]);
  assert.deepEqual(colorLimits(Float32Array.from([0, 0]), true), [-1, 1]);
  assert.deepEqual(colorAt(DIVERGING, 0), [5, 48, 97]);
  assert.deepEqual(colorAt(DIVERGING, 1), [103, 0, 31]);
  assert.deepEqual(colorAt(DIVERGING, 0.5), [247, 246, 246]);
});

test("dendrogram layout puts leaves in left-first order and merges halfway", () => {
  // ((0, 1), (2, 3)) with the pair (2, 3) listed as the left child of the root
  const Z = Float64Array.from([0, 1, 1, 2, 2, 3, 2, 2, 5, 4, 3, 4]);
  const lay = layoutDendrogram(Z, 4);
  assert.deepEqual(Array.from(lay.order), [2, 3, 0, 1]);
  assert.equal(lay.pos[6], 1.5);
  assert.equal(lay.height[6], 3);
  assert.deepEqual(Array.from(nodeClusters(Z, 4, [0, 0, 1, 1], 2.5)), [0, 0, 1, 1, 0, 1, -1]);
});
