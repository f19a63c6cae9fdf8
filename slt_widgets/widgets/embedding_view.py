"""`EmbeddingView`: a 2-D embedding as a bqplot Scatter, coloured by class or cluster.

Brush (rectangle) or lasso selection sets ``selected`` (point positions ``[k]``); the
Explorer turns it into a cluster. While a brush is being dragged the front end updates the
scatter on every mouse move; ``selected`` is only published when the drag ends, so the
kernel does the linked work once per gesture.
"""
from __future__ import annotations

from typing import Sequence

import html

import bqplot as bq
from bqplot.interacts import BrushSelector, LassoSelector
import ipywidgets as W
import numpy as np
import traitlets as T

from ._html import text
from .aria_label import aria_label
from ._static import StaticPNG
from ._static_png import CLUSTER_COLORS

__all__ = ["EmbeddingView"]

_SELECTORS = ("brush", "lasso", "off")


LEGEND_MAX = 12   # legend entries before the rest are summarised
OTHER_GREY = "#a8a8a8"   # points of the grey "other" group (small clusters)
MARKED_COLOR = "#e6007e"  # the user's own frames next to the corpus's: one colour no cluster uses


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values ``[k]`` covering ``[lo, hi]``: multiples of one step (1, 2, 2.5 or 5 × 10^e),
    so 0 is a tick whenever the range spans it."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return [float(lo)] if np.isfinite(lo) else [0.0]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(f * mag for f in (1, 2, 2.5, 5, 10) if f * mag >= raw)
    first = np.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    return [float(round(t / step) * step) + 0.0 for t in ticks]


class EmbeddingView(StaticPNG, W.VBox):
    """Scatter of ``xy [n, 2]`` coloured by integer ``color_ids [n]`` with a swatch legend.

    ``selected``: ``None`` or int64 ``[k]`` positions of the points the user brushed/lassoed
    (kernel-side trait; observe it). ``highlight(positions)`` marks points without
    publishing a selection (for links coming from other views).
    """

    selected = T.Any(None, allow_none=True)

    def __init__(self, title: str = "Embedding", *, selector: str = "brush", width: str = "420px",
                 height: str = "360px", **kw):
        super().__init__(**kw)
        if selector not in _SELECTORS:
            raise ValueError(f"selector must be one of {_SELECTORS}, got {selector!r}")
        self.add_class("slt-embedding-view")
        self.sx, self.sy = bq.LinearScale(), bq.LinearScale()
        self.color_scale = bq.OrdinalColorScale(colors=list(CLUSTER_COLORS), domain=list(range(len(CLUSTER_COLORS))))
        self.scatter = bq.Scatter(
            x=np.zeros(0, np.float32), y=np.zeros(0, np.float32), color=np.zeros(0, np.int32),
            scales={"x": self.sx, "y": self.sy, "color": self.color_scale}, default_size=24,
            stroke="white", stroke_width=0.3, selected_style={"opacity": 1.0, "stroke": "black"},
            unselected_style={"opacity": 0.25})
        self.brush = BrushSelector(x_scale=self.sx, y_scale=self.sy, marks=[self.scatter], color="#555555")
        self.lasso = LassoSelector(marks=[self.scatter], color="#555555")
        self.color_scale.colors = list(CLUSTER_COLORS) + [OTHER_GREY, MARKED_COLOR]
        self.color_scale.domain = list(range(len(CLUSTER_COLORS) + 2))
        self.x_axis = bq.Axis(scale=self.sx, label="dim 1", tick_format=".3~g")
        self.y_axis = bq.Axis(scale=self.sy, orientation="vertical", label="dim 2", tick_format=".3~g")
        # no bqplot toolbar: it would sit over the title; brush/lasso/off are the buttons below
        self.figure = bq.Figure(marks=[self.scatter], title=title, animation_duration=0,
                                axes=[self.x_axis, self.y_axis], display_toolbar=False,
                                fig_margin={"top": 40, "bottom": 44, "left": 54, "right": 14},
                                layout=W.Layout(width="100%", min_width=width, height=height, margin="0"))
        self.figure.add_class("slt-embedding-figure")
        self.mode = W.ToggleButtons(options=list(_SELECTORS), value=selector, style={"button_width": "60px"})
        self.mode.add_class("slt-embedding-mode")
        self.legend = W.HTML(layout=W.Layout(width="100%", margin="0"))   # wraps: a long legend must not widen the view
        # grows into the row's free width (no dead gap), never narrower than `width`
        self.layout.flex = f"1 1 {width}"
        self.layout.min_width = "0"
        self.legend.add_class("slt-embedding-legend")
        self.children = [self.figure, W.HBox([W.Label("select points:"), self.mode]), self.legend]
        self.mode.observe(self._on_mode, "value")
        self.scatter.observe(self._on_scatter_selected, "selected")
        self.brush.observe(self._on_brushing, "brushing")
        self._muted = False
        self.xy = np.zeros((0, 2), np.float32)
        self.color_ids = np.zeros(0, np.int64)
        self.names: tuple[str, ...] = ()
        self.grey_from: int | None = None
        self.marked: np.ndarray | None = None     # [n] bool: points drawn in MARKED_COLOR (the user's)
        self.marked_name = "you"
        self._brushed = False          # a brush / lasso shape may be drawn in the browser
        self._apply_mode(selector)
        # the figure's accessible name: what the picture's alt says, kept up with title and points
        self.aria = aria_label(self, self.alt_text(), "figure")
        self.figure.observe(self._relabel, "title")

    @property
    def title(self) -> str:
        return self.figure.title

    @title.setter
    def title(self, value: str) -> None:
        self.figure.title = str(value)

    # ---------------------------------------------------------------------- data
    def set_points(self, xy, color_ids, names: Sequence[str] | None = None, *, title: str | None = None,
                   grey_from: int | None = None, marked=None, marked_name: str = "you") -> None:
        """Show ``xy [n, 2]`` coloured by ``color_ids [n]`` (ints ≥ 0; ``names[i]`` labels id i;
        ids ≥ ``grey_from`` are drawn grey: the "other" group). ``marked``: None or ``[n]`` bool —
        those points (a user's own frames) are drawn in one colour of their own with a legend entry
        ``"{marked_name} (n=k)"``; a cluster entry then reads ``"cluster 0 (110, +27 you)"``.

        Clears the selection and the brush. Coordinates travel as binary float32.
        """
        xy = np.asarray(xy, dtype=np.float32)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"xy must be [n, 2] (an embedding), got shape {xy.shape}")
        if not np.isfinite(xy).all():
            raise ValueError("xy contains NaN or inf; the embedding did not converge")
        self.xy = xy
        with self.scatter.hold_sync():
            self._muted = True
            try:
                self.scatter.selected = None
                for scale, col in ((self.sx, xy[:, 0]), (self.sy, xy[:, 1])):
                    lo, hi = (float(col.min()), float(col.max())) if len(col) else (0.0, 1.0)
                    pad = 0.05 * (hi - lo) or 1.0          # keep edge points (and a 1-point set) inside
                    with scale.hold_sync():
                        scale.min, scale.max = lo - pad, hi + pad
                    axis = self.x_axis if scale is self.sx else self.y_axis
                    axis.tick_values = np.asarray(nice_ticks(lo - pad, hi + pad), dtype=np.float64)
                self.scatter.x = xy[:, 0]
                self.scatter.y = xy[:, 1]
                self._set_colors(color_ids, names, grey_from, marked, marked_name)
            finally:
                self._muted = False
        self.clear_brush()
        self.selected = None
        if title is not None and title != self.figure.title:
            self.figure.title = title

    def clear_brush(self) -> None:
        """Remove the brush rectangle / lasso shape from the plot (nothing is published).
        A no-op (no message to the browser) when nothing was brushed since the last clear."""
        if not self._brushed:
            return
        self._muted = True
        try:
            for sel in (self.brush, self.lasso):
                sel.reset()
            self.brush.selected_x = None
            self.brush.selected_y = None
            self.scatter.selected = None
            self._brushed = False
        finally:
            self._muted = False

    def set_colors(self, color_ids, names: Sequence[str] | None = None, *, grey_from: int | None = None,
                   marked=None, marked_name: str = "you") -> None:
        """Recolour the points: ``color_ids [n]`` ints, ``names`` one label per id (ids ≥ ``grey_from`` grey),
        ``marked`` None or ``[n]`` bool (see :meth:`set_points`)."""
        with self.scatter.hold_sync():
            self._set_colors(color_ids, names, grey_from, marked, marked_name)

    def _color_of(self, i: int) -> str:
        if self.grey_from is not None and i >= self.grey_from:
            return OTHER_GREY
        return CLUSTER_COLORS[i % len(CLUSTER_COLORS)]

    def _set_colors(self, color_ids, names, grey_from=None, marked=None, marked_name="you") -> None:
        c = np.asarray(color_ids)
        if c.shape != (len(self.xy),):
            raise ValueError(f"color_ids must be [n] = [{len(self.xy)}] (one per point), got shape {c.shape}")
        if marked is not None:
            marked = np.asarray(marked)
            if marked.shape != c.shape or marked.dtype != bool:
                raise ValueError(f"marked must be None or [n] = [{len(self.xy)}] bool, got {marked.dtype} {marked.shape}")
        if c.size and (not np.issubdtype(c.dtype, np.integer) or c.min() < 0):
            raise ValueError("color_ids must be integers ≥ 0 (class or cluster ids)")
        k = int(c.max()) + 1 if c.size else 0
        if names is not None and len(names) < k:
            raise ValueError(f"names has {len(names)} entries but color_ids go up to {k - 1}")
        self.color_ids = c.astype(np.int64)
        self.grey_from = None if grey_from is None else int(grey_from)
        self.names = tuple(str(n) for n in names) if names is not None else tuple(str(i) for i in range(k))
        # ids beyond the palette wrap around: colours repeat but every point stays drawn
        col = (self.color_ids % len(CLUSTER_COLORS)).astype(np.int32)
        if self.grey_from is not None:
            col[self.color_ids >= self.grey_from] = len(CLUSTER_COLORS)
        self.marked = None if marked is None else marked.copy()
        self.marked_name = str(marked_name)
        if self.marked is not None:
            col[self.marked] = len(CLUSTER_COLORS) + 1
        self.scatter.color = col
        counts = np.bincount(self.color_ids if self.marked is None else self.color_ids[~self.marked], minlength=k)
        self._marked_counts = None if self.marked is None else np.bincount(self.color_ids[self.marked], minlength=k)
        shown = [i for i in range(k) if counts[i] or (self._marked_counts is not None and self._marked_counts[i])]
        rest = shown[LEGEND_MAX:]                # many small outlier clusters: summarise them
        # one nowrap unit per entry: a swatch never wraps away from its label
        items = [f"<span style='white-space:nowrap;margin-right:8px'><span style='display:inline-block;width:10px;"
                 f"height:10px;margin-right:3px;background:{self._color_of(i)}'></span>"
                 f"{text(self.names[i])} ({counts[i]}{self._marked_in(i)})</span>" for i in shown[:LEGEND_MAX]]
        if rest:
            items.append(f"<span style='white-space:nowrap;color:var(--jp-ui-font-color2, #616161)'>+ {len(rest)} "
                         f"small clusters ({int(counts[rest].sum())} points)</span>")
        if self.marked is not None:
            items.append(f"<span style='white-space:nowrap;margin-right:8px'><span style='display:inline-block;"
                         f"width:10px;height:10px;margin-right:3px;border-radius:5px;background:{MARKED_COLOR}'>"
                         f"</span>{text(self.marked_name)} (n={int(self.marked.sum())})</span>")
        self.legend.value = ("<div style='font-size:11px;line-height:1.6;color:var(--jp-ui-font-color1, #222)'>"
                             + " ".join(items) + "</div>")
        self._relabel()

    def _marked_in(self, i: int) -> str:
        """``", +27 you"``: the marked points of id ``i`` (drawn in the marked colour, so counted apart)."""
        m = self._marked_counts
        return "" if m is None or not m[i] else f", +{int(m[i])} {text(self.marked_name)}"

    def highlight(self, positions) -> None:
        """Mark ``positions [k]`` as selected in the plot without publishing ``selected``."""
        p = None if positions is None else np.asarray(positions, dtype=np.int32)
        self._muted = True
        try:
            self.scatter.selected = p
        finally:
            self._muted = False

    # ---------------------------------------------------------------- interaction
    def _apply_mode(self, mode: str) -> None:
        self.figure.interaction = {"brush": self.brush, "lasso": self.lasso, "off": None}[mode]

    def _on_mode(self, change) -> None:
        self._apply_mode(change["new"])

    def _on_brushing(self, change) -> None:
        if change["new"]:
            self._brushed = True
        if change["old"] and not change["new"]:        # drag ended: publish once
            self._publish(self.scatter.selected)

    def _on_scatter_selected(self, change) -> None:
        if self._muted or self.brush.brushing:
            return
        self._publish(change["new"])

    def _publish(self, sel) -> None:
        self._brushed = True
        if sel is None or len(sel) == 0:
            self.selected = None
            return
        p = np.unique(np.asarray(sel, dtype=np.int64))
        if p.min() < 0 or p.max() >= len(self.xy):
            raise IndexError(f"selected point {int(p.max())} outside 0..{len(self.xy) - 1}")
        self.selected = p

    # ------------------------------------------------------------------ static render
    def render(self, ax) -> None:
        """Draw the scatter on a matplotlib ``ax`` (selected points outlined)."""
        cols = np.array([self._color_of(int(i)) for i in self.color_ids]) if len(self.xy) else []
        sel = self.scatter.selected
        alpha = 0.85
        if sel is not None and len(sel):
            mask = np.zeros(len(self.xy), bool)
            mask[np.asarray(sel, dtype=np.int64)] = True
            ax.scatter(self.xy[~mask, 0], self.xy[~mask, 1], c=list(cols[~mask]), s=8, alpha=0.25, lw=0)
            ax.scatter(self.xy[mask, 0], self.xy[mask, 1], c=list(cols[mask]), s=12, edgecolors="k", lw=0.4)
        elif len(self.xy):
            ax.scatter(self.xy[:, 0], self.xy[:, 1], c=list(cols), s=8, alpha=alpha, lw=0)
        from matplotlib.patches import Patch
        from matplotlib.lines import Line2D
        handles = []
        if self.marked is not None and self.marked.any():
            m = self.marked
            ax.scatter(self.xy[m, 0], self.xy[m, 1], c=MARKED_COLOR, marker="D", s=16, edgecolors="k", lw=0.4)
            handles.append(Line2D([], [], ls="", marker="D", color=MARKED_COLOR, markeredgecolor="k",
                                  label=f"{self.marked_name} (n={int(m.sum())})"))
        present = np.unique(self.color_ids if self.marked is None else self.color_ids[~self.marked])
        if len(present) <= 12:
            ax.legend(handles=[Patch(color=self._color_of(int(i)), label=self.names[i])
                               for i in present] + handles, fontsize=7, loc="best")
        ax.set_title(self.figure.title, fontsize=10)
        ax.set_xlabel("dim 1")
        ax.set_ylabel("dim 2")

    def to_png(self, path, dpi: int = 120) -> str:
        """Write the view as a PNG (matplotlib, no browser needed). Returns the path."""
        from ._static import save_axes_png
        return save_axes_png(self.render, path, figsize=(4.6, 4), dpi=dpi)

    def to_bytes(self, dpi: int = 120) -> bytes:
        """The same PNG as :meth:`to_png`, as bytes."""
        from ._static import render_png_bytes
        return render_png_bytes(self.render, figsize=(4.6, 4), dpi=dpi)

    def alt_text(self) -> str:
        """What the view shows, in words: the text alternative of its picture and the view's
        accessible name (screen readers)."""
        return f"embedding {self.title}: {len(self.xy)} points in {len(np.unique(self.color_ids))} colours"

    def _relabel(self, _change=None) -> None:
        aria = getattr(self, "aria", None)          # None while __init__ builds the view
        if aria is not None:
            aria.label = self.alt_text()

