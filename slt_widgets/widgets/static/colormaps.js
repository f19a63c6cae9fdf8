// Colour maps shared by the ES modules AND by Python: widgets/_static_png.py reads the hex stops
// below from this file, so the static PNG and the live widget use the same colours.

/** Diverging map for SLT weights and differences (matplotlib RdBu_r at 11 stops): blue < 0 < red. */
export const DIVERGING = ["#053061", "#2065ab", "#4393c3", "#90c4dd", "#d1e5f0", "#f7f6f6", "#fddbc7", "#f3a481", "#d6604d", "#b1182b", "#67001f"];

/** Sequential map for input features (matplotlib viridis at 11 stops). */
export const SEQUENTIAL = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"];

/** One colour per cluster id (id % length); no greys, so they stay apart from ABOVE_CUT. */
export const CLUSTER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a"];

/** Links above the cut (they join several clusters). */
export const ABOVE_CUT = "#555555";

/** @param {string} hex "#rrggbb" @returns {number[]} [r, g, b] in 0..255 */
export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/**
 * Colour of t in [0, 1] on a map given by evenly spaced stops (linear RGB interpolation, like
 * matplotlib's LinearSegmentedColormap.from_list). Values outside [0, 1] are clipped.
 * @param {string[]} stops @param {number} t @returns {number[]} [r, g, b] 0..255
 */
export function colorAt(stops, t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0.5)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = hexToRgb(stops[i]);
  const b = hexToRgb(stops[i + 1]);
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f));
}

/** @param {number} id cluster id (≥ 0) @returns {string} hex colour */
export function clusterColor(id) {
  return CLUSTER_COLORS[((id % CLUSTER_COLORS.length) + CLUSTER_COLORS.length) % CLUSTER_COLORS.length];
}

/**
 * Colour limits of one heatmap: symmetric [-a, a] for diverging maps, [min, max] otherwise.
 * A constant panel gets a unit-wide range so it still draws.
 * @param {ArrayLike<number>} values @param {boolean} diverging @returns {number[]} [lo, hi]
 */
export function colorLimits(values, diverging) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo <= hi)) { lo = 0; hi = 0; }
  if (diverging) {
    const a = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return [-a, a];
  }
  return hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
}

/** Short number for ticks and read-outs. @param {number} v @returns {string} */
export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}
