"""Text contrast measured in the page (WCAG 2 relative luminance), for the theme tests.

For every visible element with text of its own inside ``scope``: its text colour (``fill`` for
SVG text, ``color`` otherwise, with ``opacity`` of it and its ancestors) composited over its
background — the CSS background colours of the element and its ancestors, nearest last, over
white when none is opaque — and the contrast ratio ``(L1 + 0.05) / (L2 + 0.05)``. Shapes drawn
behind SVG text are not backgrounds here; no view of ours puts text over its marks.
"""
from __future__ import annotations

CONTRAST_JS = r"""(scope) => {
  const parse = s => {
    const m = /rgba?\(([^)]+)\)/.exec(s || "");
    if (m) {
      const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    // color-mix(in srgb, …) computes to color(srgb r g b [/ a]) with channels in 0…1
    const c = /color\(srgb\s+([^)]+)\)/.exec(s || "");
    if (!c) return null;
    const p = c[1].split(/[\s\/]+/).filter(Boolean).map(Number);
    return [255 * p[0], 255 * p[1], 255 * p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (fg, bg) => [0, 1, 2].map(i => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
  const lum = rgb => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const opacity = el => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const path = el => {
    const out = [];
    for (let e = el; e && out.length < 4; e = e.parentElement) {
      const c = typeof e.className === "string" ? e.className : (e.className && e.className.baseVal) || "";
      out.push(e.tagName.toLowerCase() + (c ? "." + c.trim().split(/\s+/).join(".") : ""));
    }
    return out.join(" < ");
  };
  const results = [];
  for (const root of document.querySelectorAll(scope)) {
    for (const el of root.querySelectorAll("*")) {
      if (["SCRIPT", "STYLE", "OPTION", "TITLE"].includes(el.tagName.toUpperCase())) continue;
      const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
      if (!own) continue;
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      if (r.width < 1 || r.height < 1 || cs.visibility !== "visible" || el.getAttribute("display") === "none") continue;
      const o = opacity(el);
      if (o < 0.05) continue;
      const svg = el instanceof SVGElement;
      const raw = svg ? cs.fill : cs.color;
      const c = parse(raw);
      if (!c) {                 // a colour this cannot read fails the test instead of passing unmeasured
        if (svg && (raw === "none" || raw.startsWith("url("))) continue;
        results.push({text: own.slice(0, 60), ratio: 0, fg: raw, bg: null, where: path(el) + " (colour not parsed)"});
        continue;
      }
      const a = c[3] * o * (svg ? Number(cs.fillOpacity || 1) : 1);
      const bg = background(el);
      const fg = over([c[0], c[1], c[2], a], bg);
      const [l1, l2] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      results.push({text: own.slice(0, 60), ratio: Math.round(100 * (l1 + 0.05) / (l2 + 0.05)) / 100,
                    fg: fg.map(Math.round), bg: bg.map(Math.round), where: path(el)});
    }
  }
  return results;
}"""


def measure(page, scope: str = ".jp-OutputArea-output") -> list[dict]:
    """``[{text, ratio, fg, bg, where}]`` for every visible text element inside ``scope``."""
    return page.evaluate(CONTRAST_JS, scope)
