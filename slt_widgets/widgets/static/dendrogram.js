// Dendrogram layout shared by cluster_tree.js and selectivity_map.js (pure functions, no DOM).

/**
 * Lay out a scipy linkage: leaves in left-first traversal order (scipy's dendrogram order).
 * @param {ArrayLike<number>} Z flat row-major linkage [(m - 1) * 4]: child a, child b, height, count
 * @param {number} m number of leaves
 * @returns {{order: Int32Array, pos: Float64Array, height: Float64Array}}
 *   order [m]: leaf ids left to right; pos [2m - 1]: slot of each node along the leaf axis
 *   (leaf i sits at its index in order, a merge halfway between its children);
 *   height [2m - 1]: 0 for leaves, Z[k, 2] for node m + k.
 */
export function layoutDendrogram(Z, m) {
  const order = new Int32Array(m);
  const pos = new Float64Array(Math.max(1, 2 * m - 1));
  const height = new Float64Array(Math.max(1, 2 * m - 1));
  if (m <= 1) return { order, pos, height };
  const stack = [2 * m - 2];
  let next = 0;
  while (stack.length) {
    const node = stack.pop();
    if (node < m) { order[next++] = node; continue; }
    const k = node - m;
    stack.push(Z[4 * k + 1], Z[4 * k]); // right first so the left child comes out first
  }
  for (let i = 0; i < m; i++) pos[order[i]] = i;
  for (let k = 0; k < m - 1; k++) {
    pos[m + k] = (pos[Z[4 * k]] + pos[Z[4 * k + 1]]) / 2;
    height[m + k] = Z[4 * k + 2];
  }
  return { order, pos, height };
}

/**
 * SVG path of the U-shaped link of merge k (node m + k).
 * @param {ArrayLike<number>} Z flat linkage @param {number} m leaves @param {number} k merge row
 * @param {{pos: Float64Array, height: Float64Array}} lay from layoutDendrogram
 * @param {(pos: number, h: number) => number[]} toXY slot and height -> [x, y] pixels
 * @returns {string} the "d" attribute
 */
export function linkPath(Z, m, k, lay, toXY) {
  const a = Z[4 * k], b = Z[4 * k + 1], h = Z[4 * k + 2];
  const p = [toXY(lay.pos[a], lay.height[a]), toXY(lay.pos[a], h), toXY(lay.pos[b], h), toXY(lay.pos[b], lay.height[b])];
  return "M" + p.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join("L");
}

/**
 * Cluster id of every node at a cut: a node whose merge height is ≤ cut lies inside one cluster,
 * the cluster of any of its leaves; nodes above the cut get -1.
 * @param {ArrayLike<number>} Z flat linkage @param {number} m leaves
 * @param {ArrayLike<number>} leafCluster [m] cluster id of each leaf (-1: the leaf itself is split)
 * @param {number} cut
 * @returns {Int32Array} [2m - 1]
 */
export function nodeClusters(Z, m, leafCluster, cut) {
  const out = new Int32Array(Math.max(1, 2 * m - 1));
  for (let i = 0; i < m; i++) out[i] = leafCluster[i];
  for (let k = 0; k < m - 1; k++) {
    const a = out[Z[4 * k]], b = out[Z[4 * k + 1]];
    out[m + k] = Z[4 * k + 2] <= cut && a === b ? a : -1;
  }
  return out;
}
