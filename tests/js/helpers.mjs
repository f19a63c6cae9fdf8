// Shared test helpers: a jsdom window, a fake anywidget model, a recording canvas context.
import { JSDOM } from "jsdom";
import { arrayToJson } from "../../slt_widgets/widgets/static/codec.js";

export const STATIC = new URL("../../slt_widgets/widgets/static/", import.meta.url);

/** Install a fresh jsdom as the global document/window; returns the JSDOM. */
export function setupDom() {
  const dom = new JSDOM("<!doctype html><html><body><div id='out'></div></body></html>");
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  const contexts = [];
  // jsdom has no canvas: record the calls instead (createImageData / putImageData)
  dom.window.HTMLCanvasElement.prototype.getContext = function getContext() {
    const canvas = this;
    const ctx = {
      canvas,
      puts: [],
      createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
      putImageData(img, x, y) { this.puts.push({ img, x, y }); },
    };
    contexts.push(ctx);
    canvas._ctx = ctx;
    return ctx;
  };
  dom.contexts = contexts;
  return dom;
}

/** Minimal stand-in for the anywidget model (Backbone-like: set fires change:key). */
export class FakeModel {
  constructor(state) {
    this.state = { ...state };
    this.handlers = new Map();
    this.saves = 0;
  }
  get(k) { return this.state[k]; }
  set(k, v) {
    this.state[k] = v;
    for (const fn of [...(this.handlers.get(`change:${k}`) ?? [])]) fn();
  }
  on(ev, fn) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, new Set());
    this.handlers.get(ev).add(fn);
  }
  off(ev, fn) { this.handlers.get(ev)?.delete(fn); }
  save_changes() { this.saves += 1; }
  nHandlers() { let n = 0; for (const s of this.handlers.values()) n += s.size; return n; }
}

/** Encode like Python's array_to_json: a DataView over a bigger buffer (non-zero offset). */
export function wire(TypedCtor, values, shape) {
  const a = TypedCtor.from(values);
  const padded = new Uint8Array(a.byteLength + 8);
  padded.set(new Uint8Array(a.buffer), 8);
  const enc = arrayToJson(a, shape);
  return { ...enc, view: new DataView(padded.buffer, 8, a.byteLength) };
}

export function mouse(win, type, x, y) {
  return new win.MouseEvent(type, { clientX: x, clientY: y, bubbles: true, cancelable: true });
}
