// AriaLabel: names the box it sits in for assistive technology. ipywidgets boxes and bqplot
// figures have no ARIA traits (ipywidgets#2650), so a view built from them carries this
// invisible child; it sets `role` and `aria-label` on its parent element (the box's own node)
// and keeps them up with the model. Nothing is drawn.

const ROLES = new Set(["region", "figure", "img", "group"]);

/** Put the model's role and label on `host`. @param {Element} host @param {any} model */
export function applyLabel(host, model) {
  const role = model.get("role");
  host.setAttribute("role", ROLES.has(role) ? role : "region");
  host.setAttribute("aria-label", String(model.get("label") ?? ""));
}

const nextFrame = (fn) => (globalThis.requestAnimationFrame ? requestAnimationFrame(fn) : setTimeout(fn, 16));
const cancelFrame = (id) => (globalThis.cancelAnimationFrame ? cancelAnimationFrame(id) : clearTimeout(id));

function render({ model, el, signal }) {
  el.classList.add("slt-aria-label");
  el.hidden = true;
  let host = null;
  let frame = 0;
  const apply = () => {
    if (el.parentElement) host = el.parentElement;
    if (host) applyLabel(host, model);
    return host !== null;
  };
  // the box inserts this view's node after render() returns: label it once it is attached
  const wait = () => {
    if (!apply() && !(signal && signal.aborted)) frame = nextFrame(wait);
  };
  wait();
  const onChange = () => { apply(); };
  model.on("change:label", onChange);
  model.on("change:role", onChange);
  return () => {
    cancelFrame(frame);
    model.off("change:label", onChange);
    model.off("change:role", onChange);
  };
}

export default { render };
