"""Matplotlib (Agg) renderings of the anywidgets, for ``to_png`` and the saved-notebook image.

Colours come from ``static/colormaps.js`` (parsed here), so the PNG matches the live widget.
Functions take plain arrays and return a ``matplotlib.figure.Figure`` (no pyplot state).
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure

from ._anywidget_base import STATIC

__all__ = ["js_colors", "diverging_cmap", "sequential_cmap", "CLUSTER_COLORS", "ABOVE_CUT",
           "color_limits", "panel_limits", "dendrogram_layout", "render_template_panel",
           "render_cluster_tree", "render_selectivity_map", "normalize_columns"]


@lru_cache(maxsize=None)
def js_colors() -> dict:
    """``{NAME: [hex, ...]}`` for every ``export const NAME = [...]`` / ``= "#..."`` in colormaps.js."""
    src = (STATIC / "colormaps.js").read_text(encoding="utf-8")
    out = {}
    for name, body in re.findall(r"export const (\w+) = (\[[^\]]*\]|\"#[0-9a-fA-F]{6}\");", src):
        out[name] = re.findall(r"#[0-9a-fA-F]{6}", body)
    return out


def diverging_cmap():
    return LinearSegmentedColormap.from_list("slt_diverging", js_colors()["DIVERGING"], N=256)


def sequential_cmap():
    return LinearSegmentedColormap.from_list("slt_sequential", js_colors()["SEQUENTIAL"], N=256)


CLUSTER_COLORS = tuple(js_colors()["CLUSTER_COLORS"])
ABOVE_CUT = js_colors()["ABOVE_CUT"][0]


def cluster_color(cluster_id: int) -> str:
    """Hex colour of a cluster id (cycles through ``CLUSTER_COLORS``); ``ABOVE_CUT`` for -1."""
    return ABOVE_CUT if cluster_id < 0 else CLUSTER_COLORS[cluster_id % len(CLUSTER_COLORS)]


def color_limits(values, diverging: bool) -> tuple[float, float]:
    """Same rule as ``colorLimits`` in colormaps.js: ``[-a, a]`` (a = max |v|) for diverging maps,
    ``[min, max]`` otherwise; constant data gets a unit-wide range."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if diverging:
        a = max(abs(lo), abs(hi)) or 1.0
        return -a, a
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def panel_limits(images, kinds, shared_scale: bool) -> np.ndarray:
    """Colour limits ``[P, 2]`` of a TemplatePanel (``images [P, H, W]``, ``kinds [P]``).
    With ``shared_scale`` all diverging panels share one range and all feature panels another."""
    images = np.asarray(images)
    div = np.array([k != "features" for k in kinds], dtype=bool)
    lims = np.zeros((len(images), 2))
    for p in range(len(images)):
        group = images[div == div[p]] if shared_scale else images[p]
        lims[p] = color_limits(group, bool(div[p]))
    return lims


def normalize_columns(csv, mode: str) -> np.ndarray:
    """Display values of a selectivity map ``csv [K, M]``: ``"column"`` divides each node's column
    by its max |value| (dead all-zero columns stay 0), ``"none"`` returns it unchanged."""
    c = np.asarray(csv, dtype=np.float64)
    if mode == "none":
        return c
    scale = np.abs(c).max(axis=0)
    return c / np.where(scale > 0, scale, 1.0)


def dendrogram_layout(Z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror of ``layoutDendrogram`` in dendrogram.js for ``Z [m-1, 4]``: ``(order [m],
    pos [2m-1], height [2m-1])`` with leaves left-first (scipy's dendrogram order)."""
    Z = np.asarray(Z, dtype=np.float64)
    m = len(Z) + 1
    pos = np.zeros(2 * m - 1)
    height = np.zeros(2 * m - 1)
    if m == 1:
        return np.zeros(1, dtype=np.int64), pos, height
    order, stack = [], [2 * m - 2]
    while stack:
        node = stack.pop()
        if node < m:
            order.append(node)
        else:
            stack += [int(Z[node - m, 1]), int(Z[node - m, 0])]
    pos[np.array(order)] = np.arange(m)
    for k in range(m - 1):
        pos[m + k] = (pos[int(Z[k, 0])] + pos[int(Z[k, 1])]) / 2
        height[m + k] = Z[k, 2]
    return np.array(order), pos, height


def node_clusters(Z, leaf_cluster, cut: float) -> np.ndarray:
    """Mirror of ``nodeClusters`` in dendrogram.js: cluster id of every node ``[2m-1]``, -1 above the cut."""
    Z = np.asarray(Z)
    m = len(Z) + 1
    out = np.empty(2 * m - 1, dtype=np.int64)
    out[:m] = leaf_cluster
    for k in range(m - 1):
        a, b = out[int(Z[k, 0])], out[int(Z[k, 1])]
        out[m + k] = a if (Z[k, 2] <= cut and a == b) else -1
    return out


def _draw_dendrogram(ax, Z, cut, leaf_cluster, orientation: str, selected: int = -1, lw=1.4, leaf_heights=None):
    """U-shaped links on ``ax`` in slot units (leaf i at slot i + 0.5); ``orientation`` is where
    the root is: "top" (leaves along x) or "left" (leaves along y, root at small x... flipped).
    ``leaf_heights [m]``: where each displayed leaf stands (a truncated leaf at its own merge
    height, as the live tree draws it); default 0."""
    _, pos, height = dendrogram_layout(Z)
    m = len(Z) + 1
    if leaf_heights is not None:
        height[:m] = leaf_heights
    ncl = node_clusters(Z, leaf_cluster, np.inf if cut is None else cut)
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    segs, colors, widths = [], [], []
    for k in range(m - 1):
        a, b, h = int(Z[k, 0]), int(Z[k, 1]), Z[k, 2]
        xs = np.array([pos[a], pos[a], pos[b], pos[b]]) + 0.5
        ys = np.array([height[a], h, h, height[b]])
        c = ncl[m + k]
        color = cluster_color(c) if cut is not None else "#333333"
        widths.append(lw * (2.2 if selected >= 0 and c == selected else 1.0))
        colors.append(to_rgba(color, 0.35 if selected >= 0 and c != selected else 1.0))
        segs.append(np.column_stack([xs, ys] if orientation == "top" else [ys, xs]))
    # one collection, not one Line2D per link: a 500-leaf tree draws in milliseconds
    ax.add_collection(LineCollection(segs, colors=colors, linewidths=widths, capstyle="butt"),
                      autolim=True)
    ax.autoscale_view()
    return ncl


def _tick_values(n: int, ticks) -> list:
    return list(ticks) if ticks is not None else list(range(n))


def _tick_indices(n: int, values, max_ticks: int) -> list[int]:
    """Indices to label: every ``step``-th, anchored at the tick whose value is 0 when there is one."""
    step = max(1, math.ceil(n / max(1, max_ticks)))
    anchor = next((i for i, v in enumerate(values) if v == 0), 0)
    return [i for i in range(n) if (i - anchor) % step == 0]


def centred_ticks(n: int) -> list[int]:
    """Default frame-offset ticks for ``n`` columns: ``-(n//2) … `` (11 frames → −5…5)."""
    return [i - (n - 1) // 2 for i in range(n)]


def render_template_panel(images, titles, kinds, *, shared_scale=False, heading="", x_label="",
                          y_label="", x_ticks=None, y_ticks=None, columns=0, origin="lower") -> Figure:
    """Grid of heatmaps ``images [P, H, W]`` with colour bars; ``origin="lower"`` draws row 0
    (band 0) at the bottom, ``"upper"`` at the top."""
    images = np.asarray(images, dtype=np.float32)
    P, H, W = images.shape
    cols = columns or min(P, 4) or 1
    rows = max(1, math.ceil(P / cols))
    aspect = H / W
    cell_w = 2.3 if aspect >= 1 else 2.3 / aspect ** 0.5
    cell_h = min(4.0, 0.9 + 1.7 * aspect ** 0.5 * (2.3 / cell_w) ** 0.3 + 0.4)
    fig = Figure(figsize=(cols * cell_w + 0.3, rows * cell_h + (0.45 if heading else 0.1)), layout="constrained")
    lims = panel_limits(images, kinds, shared_scale)
    xv = x_ticks if x_ticks is not None else centred_ticks(W)
    yv = _tick_values(H, y_ticks)
    for p in range(P):
        ax = fig.add_subplot(rows, cols, p + 1)
        cmap = sequential_cmap() if kinds[p] == "features" else diverging_cmap()
        im = ax.imshow(images[p], origin=origin, cmap=cmap, norm=Normalize(*lims[p]),
                       aspect="auto", interpolation="nearest")
        ax.set_title(titles[p] if p < len(titles) else "", fontsize=9)
        xi = _tick_indices(W, xv, 5)
        yi = _tick_indices(H, yv, 7)
        ax.set_xticks(xi, [f"{xv[i]:g}" if isinstance(xv[i], (int, float)) else str(xv[i]) for i in xi],
                      fontsize=7)
        ax.set_yticks(yi, [f"{yv[i]:g}" if isinstance(yv[i], (int, float)) else str(yv[i]) for i in yi],
                      fontsize=7)
        ax.set_xlabel(x_label, fontsize=8)
        if p % cols == 0:
            ax.set_ylabel(y_label, fontsize=8)
        cb = fig.colorbar(im, ax=ax, fraction=0.08, pad=0.04)
        cb.ax.tick_params(labelsize=7)
    if heading:
        fig.suptitle(heading, fontsize=11)
    return fig


_MAX_LABELLED_LEAVES = 90


def render_cluster_tree(tree, leaf_cluster, leaf_labels, cut, *, selected=-1, title="",
                        orientation="top", height_label="distance", leaf_heights=None, leaf_counts=None,
                        cut_text=None) -> Figure:
    """Dendrogram of a (truncated) linkage ``tree [m-1, 4]`` coloured by ``leaf_cluster [m]``
    (-1: the displayed leaf spans several clusters, or is grey "other") with the cut line and
    leaf labels ``[m]``.

    As the live tree draws a truncated one: ``leaf_heights [m]`` (each leaf's own merge height)
    and ``leaf_counts [m]`` (samples under it) stand every leaf of several samples at
    ``min(height, cut)`` with a wedge below it in its cluster's colour, and the height axis starts
    just below the lowest leaf; ``cut_text`` replaces the title's "cut …: n clusters"."""
    tree = np.asarray(tree, dtype=np.float64)
    m = len(tree) + 1
    order, pos, _ = dendrogram_layout(tree)
    stand = None if leaf_heights is None else np.minimum(np.asarray(leaf_heights, np.float64), cut)
    top = orientation == "top"
    # past ~90 leaves a label per leaf is unreadable and costs seconds to lay out: the leaves are
    # then marked by a strip in their cluster colours, and the figure stops growing
    labelled = m <= _MAX_LABELLED_LEAVES
    long = min(14.0, 0.13 * m + 1.5) if labelled else 10.0
    fig = Figure(figsize=(max(6.0, long), 3.8) if top else (5.0, max(3.0, min(14.0, 0.18 * m + 1))),
                 layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    _draw_dendrogram(ax, tree, cut, leaf_cluster, orientation, selected, leaf_heights=stand)
    ymax = (tree[:, 2].max() if m > 1 else 1.0) * 1.05 or 1.0
    base = 0.0
    if stand is not None and leaf_counts is not None:
        root = float(tree[:, 2].max()) if m > 1 else 1.0
        low = float(stand.min())
        base = max(0.0, low - 0.25 * (root - low)) if low > 0 else 0.0   # the live tree's zoom
        _draw_wedges(ax, pos, stand, np.asarray(leaf_counts), np.asarray(leaf_cluster), base, top, selected)
    ticks = np.arange(m) + 0.5
    labels = [leaf_labels[i] for i in order]
    n_clusters = len({int(c) for c in leaf_cluster if c >= 0})
    line = dict(color="#d62728", ls="--", lw=1.2)
    if top:
        ax.set_xlim(0, m)
        ax.set_ylim(base, ymax)
        ax.axhline(cut, **line)
        if labelled:
            ax.set_xticks(ticks, labels, rotation=90, fontsize=7 if m <= 40 else 6)
        else:
            ax.set_xticks([])
            ax.set_xlabel(f"{m} leaves")
        ax.set_ylabel(height_label)
    else:
        ax.set_ylim(0, m)
        ax.set_xlim(ymax, base)
        ax.axvline(cut, **line)
        ax.yaxis.tick_right()
        if labelled:
            ax.set_yticks(ticks, labels, fontsize=7)
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{m} leaves")
        ax.set_xlabel(height_label)
    colors = [cluster_color(int(leaf_cluster[leaf])) for leaf in order]
    if labelled:
        tick_labels = ax.get_xticklabels() if top else ax.get_yticklabels()   # once: each call re-lays the ticks
        for lab, c, leaf in zip(tick_labels, colors, order):
            if stand is None:
                lab.set_color(c)
            else:      # as live: text in the font colour (pale cluster colours are unreadable), the wedge has the colour
                drawn = int(leaf_cluster[leaf]) >= 0
                lab.set_color("#222222" if drawn else "#616161")
                lab.set_fontweight("bold" if drawn else "normal")
    else:
        from matplotlib.colors import ListedColormap
        strip = np.arange(m)[None, :] if top else np.arange(m)[:, None]
        extent = (0, m, base - 0.04 * ymax, base) if top else (base, base - 0.04 * ymax, 0, m)
        ax.imshow(strip, cmap=ListedColormap(colors), aspect="auto", extent=extent, origin="lower",
                  interpolation="nearest", clip_on=False)
        if top:
            ax.set_ylim(base - 0.04 * ymax, ymax)
        else:
            ax.set_xlim(ymax, base - 0.04 * ymax)
    if cut_text is None:
        cut_text = f"cut {cut:.3g}: {n_clusters}+ clusters shown" if any(leaf_cluster < 0) else \
            f"cut {cut:.3g}: {n_clusters} clusters"
    # a long title and the cut read-out on two lines: one line overran a narrow (few-leaf) figure
    sep = "\n" if len(title) + len(cut_text) > 48 else " — "
    ax.set_title(f"{title}{sep if title else ''}{cut_text}", fontsize=10)
    for s in ("top", "right") if top else ("top", "left"):
        ax.spines[s].set_visible(False)
    return fig


def _draw_wedges(ax, pos, stand, counts, leaf_cluster, base: float, top: bool, selected: int) -> None:
    """A wedge under every displayed leaf of ≥ 2 samples, from where it stands down to ``base``,
    in its cluster's colour (grey for "other" and split leaves); width grows with √n, as live."""
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

    polys, faces, edges = [], [], []
    for i in range(len(stand)):
        n = int(counts[i])
        if n < 2:
            continue
        c = int(leaf_cluster[i])
        col = "#aaaaaa" if c < 0 else cluster_color(c)
        w = min(0.42, (3 + np.sqrt(n)) / 40)
        x, h = pos[i] + 0.5, stand[i]
        pts = [(x, h), (x - w, base), (x + w, base)]
        polys.append(pts if top else [(b, a) for a, b in pts])
        alpha = 0.7 if (selected >= 0 and c == selected) else (0.14 if selected >= 0 and c >= 0 else 0.35)
        faces.append(to_rgba(col, alpha))
        edges.append(to_rgba(col, 1.0 if not (selected >= 0 and c >= 0 and c != selected) else 0.4))
    if polys:
        ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors=edges, linewidths=1.0))


def render_selectivity_map(csv, row_order, col_order, row_linkage, col_linkage, col_leaf_cluster,
                           col_cut, class_names, *, normalize="column", layer_title="",
                           selected_node=-1, selected_class=-1) -> Figure:
    """Clustered heatmap of ``csv [K, M]`` in ``row_order [K]`` × ``col_order [M]`` with the class
    dendrogram (``row_linkage [K'-1, 4]``) left and the node dendrogram (``col_linkage [M'-1, 4]``,
    coloured by ``col_leaf_cluster [M']`` at ``col_cut``) on top."""
    vals = normalize_columns(csv, normalize)[np.asarray(row_order)][:, np.asarray(col_order)]
    K, M = vals.shape
    diverging = vals.min() < 0
    lo, hi = color_limits(vals, diverging)
    fig = Figure(figsize=(8.0, 2.2 + 0.13 * K + 1.0))
    gs = fig.add_gridspec(2, 4, width_ratios=[1.2, 8, 0.8, 0.22], height_ratios=[1.3, max(2.0, 0.13 * K)],
                          wspace=0.02, hspace=0.02)
    ax_h = fig.add_subplot(gs[1, 1])
    im = ax_h.imshow(vals, cmap=diverging_cmap() if diverging else sequential_cmap(),
                     norm=Normalize(lo, hi), aspect="auto", interpolation="nearest",
                     extent=(0, M, K, 0))
    ax_h.set_yticks(np.arange(K) + 0.5, [class_names[i] for i in row_order], fontsize=6 if K > 30 else 8)
    ax_h.yaxis.tick_right()
    ax_h.set_xticks([])
    ax_h.set_xlabel(f"nodes in clustered order ({M})", fontsize=8)
    if 0 <= selected_node < M:
        c = int(np.flatnonzero(np.asarray(col_order) == selected_node)[0])
        ax_h.add_patch(_rect(c, 0, 1, K))
    if 0 <= selected_class < K:
        r = int(np.flatnonzero(np.asarray(row_order) == selected_class)[0])
        ax_h.add_patch(_rect(0, r, M, 1))
    col_linkage = np.asarray(col_linkage)
    if len(col_linkage):
        ax_t = fig.add_subplot(gs[0, 1], sharex=ax_h)
        _draw_dendrogram(ax_t, col_linkage, col_cut, np.asarray(col_leaf_cluster), "top", lw=0.6)
        top = col_linkage[:, 2].max() * 1.05 or 1.0
        ax_t.set_ylim(0, top)
        if col_cut is not None:
            ax_t.axhline(col_cut, color="#d62728", ls="--", lw=1)
        ax_t.axis("off")
    row_linkage = np.asarray(row_linkage)
    if len(row_linkage):
        ax_l = fig.add_subplot(gs[1, 0], sharey=ax_h)
        m = len(row_linkage) + 1
        _draw_dendrogram(ax_l, row_linkage, None, np.zeros(m, dtype=np.int64), "left", lw=0.8)
        ax_l.set_xlim(row_linkage[:, 2].max() * 1.05 or 1.0, 0)
        ax_l.set_ylim(K, 0)
        ax_l.axis("off")
    ax_c = fig.add_subplot(gs[1, 3])  # column 2 holds the class names
    cb = fig.colorbar(im, cax=ax_c)
    cb.ax.tick_params(labelsize=7)
    fig.suptitle(layer_title or "class selectivity", fontsize=11)
    return fig


def _rect(x, y, w, h):
    from matplotlib.patches import Rectangle
    return Rectangle((x, y), w, h, fill=False, edgecolor="black", lw=1.5)
