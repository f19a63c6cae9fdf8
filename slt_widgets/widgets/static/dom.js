// Small DOM helpers shared by the widgets' ES modules (inlined by bundle_esm like codec.js).

/** A listener registry: `listen` adds and records a listener, `clear` removes all recorded ones. */
export function listenerSet() {
  /** @type {Array<[EventTarget, string, EventListener]>} */
  let listeners = [];
  return {
    listen(target, type, fn) { target.addEventListener(type, fn); listeners.push([target, type, fn]); },
    clear() { for (const [t, type, fn] of listeners) t.removeEventListener(type, fn); listeners = []; },
  };
}

/** Append the widget's error banner (class `slt-error`) to `root` when `err` is non-empty. */
export function errorBanner(root, err) {
  if (!err) return;
  const e = document.createElement("div");
  e.className = "slt-error";
  e.textContent = err;
  root.appendChild(e);
}
