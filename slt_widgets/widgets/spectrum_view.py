"""`SpectrumView`: σ₁-normalised singular-value spectra and their AUC (METHODS §2) in bqplot.

One line per spectrum (a layer, a class, a cluster, "all samples"); the legend carries each
spectrum's AUC. One spectrum can be *highlighted* (drawn thick on top) and one can be the
*reference* (drawn grey), which is how the Explorer shows a cluster against its class.
"""
from __future__ import annotations

from typing import Mapping

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..engine import auc_score
from ._html import text
from .aria_label import aria_label
from ._static import StaticPNG

__all__ = ["SpectrumView", "normalised_spectrum"]

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f")
REFERENCE_COLOR = "#9a9a9a"
HIGHLIGHT_COLOR = "#d62728"


def normalised_spectrum(sigmas) -> np.ndarray:
    """``sigmas [D]`` (descending, ≥ 0) → ``σ / σ₁`` as float32 ``[D]``; all-zero → NaN ``[D]``."""
    s = np.asarray(sigmas, dtype=np.float64).ravel()
    if s.size == 0:
        raise ValueError("a spectrum needs at least one singular value; got an empty array")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("singular values must be finite and ≥ 0 (pass np.linalg.svd(M, compute_uv=False))")
    if s[0] <= 0:
        return np.full(s.shape, np.nan, dtype=np.float32)
    return (s / s[0]).astype(np.float32)


class SpectrumView(StaticPNG, W.VBox):
    """Normalised singular-value spectra with their AUC in the legend.

    ``view.set_spectra({"HL1": sigmas [D1], "HL2": sigmas [D2], …}, highlight="HL2")``.
    Spectra may differ in length; the AUC of every line is computed over the first
    ``D = min(lengths)`` values (or ``auc_D`` if given) so the numbers compare
    (``AUC_D = Σ_{i<D} (σ_i + σ_{i+1}) / 2σ₁``, :func:`slt_widgets.auc_score`).

    Attributes after ``set_spectra``: ``names`` (tuple), ``curves`` ``{name: float32 [D_i]}``
    (normalised), ``aucs`` ``{name: float}``, ``auc_D`` (int), ``figure`` (``bqplot.Figure``).
    """

    def __init__(self, title: str = "Singular-value spectra", *, x_label: str = "index i",
                 y_label: str = "σᵢ / σ₁", log_y: bool = False, width: str = "420px",
                 height: str = "300px", **kw):
        super().__init__(**kw)
        self.add_class("slt-spectrum-view")
        self.sx = bq.LinearScale()
        self.sy = bq.LogScale() if log_y else bq.LinearScale(min=0.0, max=1.0)
        self.log_y = log_y
        self.context_lines = bq.Lines(x=np.arange(1, 3, dtype=np.float32), y=np.zeros(2, np.float32),
                                      scales={"x": self.sx, "y": self.sy}, stroke_width=1.5,
                                      labels=[""], colors=[REFERENCE_COLOR])
        self.highlight_line = bq.Lines(x=np.arange(1, 3, dtype=np.float32), y=np.zeros(2, np.float32),
                                       scales={"x": self.sx, "y": self.sy}, stroke_width=3.5,
                                       labels=[""], colors=[HIGHLIGHT_COLOR],
                                       visible=False)
        self.figure = bq.Figure(
            marks=[self.context_lines, self.highlight_line], title=title,
            axes=[bq.Axis(scale=self.sx, label=x_label), bq.Axis(scale=self.sy, orientation="vertical",
                                                               label=y_label, tick_format=".1f", num_ticks=6)],
            fig_margin={"top": 40, "bottom": 44, "left": 58, "right": 26},   # room for the last tick label
            layout=W.Layout(width="100%", min_width=width, height=height, margin="0"), animation_duration=0,
            display_toolbar=False)
        self.figure.add_class("slt-spectrum-figure")
        # an HTML legend: bqplot's in-plot legend overflows the figure with long labels
        self.legend = W.HTML(layout=W.Layout(margin="0 0 0 50px"))
        self.legend.add_class("slt-spectrum-legend")
        self.children = [self.figure, self.legend]
        self.layout.flex = f"1 1 {width}"          # grows into the row's free width, never below `width`
        self.layout.min_width = "0"
        self.names: tuple[str, ...] = ()
        self.curves: dict[str, np.ndarray] = {}
        self.aucs: dict[str, float] = {}
        self.auc_D = 0
        self.highlight: str | None = None
        self.reference: str | None = None
        self.colors: dict[str, str] = {}
        # the figure's accessible name: what the picture's alt says, kept up with title and spectra
        self.aria = aria_label(self, self.alt_text(), "figure")
        self.figure.observe(self._relabel, "title")

    @property
    def title(self) -> str:
        return self.figure.title

    @title.setter
    def title(self, value: str) -> None:
        self.figure.title = str(value)

    def set_spectra(self, spectra: Mapping[str, np.ndarray], *, highlight: str | None = None,
                    reference: str | None = None, colors: Mapping[str, str] | None = None,
                    auc_D: int | None = None, title: str | None = None) -> None:
        """Draw ``spectra`` ``{name: singular values [D_name]}`` (raw σ, normalised here).

        highlight / reference: names drawn thick red / grey. colors: ``{name: css color}``
        for the other lines (default palette). auc_D: spectrum length for the AUC
        (default: the shortest spectrum, at least 2).
        """
        if not isinstance(spectra, Mapping) or not spectra:
            raise ValueError("spectra must be a non-empty dict {name: singular values [D]}")
        for key, label in ((highlight, "highlight"), (reference, "reference")):
            if key is not None and key not in spectra:
                raise KeyError(f"{label}={key!r} is not one of the spectra: {', '.join(map(str, spectra))}")
        curves = {str(k): normalised_spectrum(v) for k, v in spectra.items()}
        lengths = [len(c) for c in curves.values()]
        D = min(lengths) if auc_D is None else int(auc_D)
        if D > min(lengths):
            raise ValueError(f"auc_D={D} exceeds the shortest spectrum ({min(lengths)} values)")
        aucs = {}
        for k, c in curves.items():
            aucs[k] = float("nan") if D < 2 or not np.isfinite(c[0]) else auc_score(c[:D], D=D)
        self.curves, self.aucs, self.auc_D = curves, aucs, D
        self.names = tuple(curves)
        self.highlight = None if highlight is None else str(highlight)
        self.reference = None if reference is None else str(reference)
        cmap = dict(colors or {})
        palette = iter(_PALETTE * 10)
        self.colors = {}
        for k in self.names:
            if k == self.highlight:
                self.colors[k] = HIGHLIGHT_COLOR
            elif k == self.reference:
                self.colors[k] = REFERENCE_COLOR
            else:
                self.colors[k] = cmap.get(k) or next(palette)
        context = [k for k in self.names if k != self.highlight]
        Dmax = max(max(lengths), 2)          # bqplot squeezes length-1 axes away; pad with NaN
        x = np.arange(1, Dmax + 1, dtype=np.float32)
        with self.figure.hold_sync():
            if context:
                y = np.full((len(context), Dmax), np.nan, dtype=np.float32)
                for i, k in enumerate(context):
                    y[i, :len(curves[k])] = curves[k]
                if self.log_y:
                    y[y <= 0] = np.nan
                with self.context_lines.hold_sync():
                    self.context_lines.x = x
                    self.context_lines.y = y
                    self.context_lines.labels = [self.label(k) for k in context]
                    self.context_lines.colors = [self.colors[k] for k in context]
                    self.context_lines.visible = True
            else:
                self.context_lines.visible = False
            if self.highlight is not None:
                c = np.full(Dmax, np.nan, dtype=np.float32)
                c[:len(curves[self.highlight])] = curves[self.highlight]
                with self.highlight_line.hold_sync():
                    self.highlight_line.x = x
                    self.highlight_line.y = c
                    self.highlight_line.labels = [self.label(self.highlight)]
                    self.highlight_line.visible = True
            else:
                self.highlight_line.visible = False
            with self.sx.hold_sync():
                self.sx.min, self.sx.max = 1.0, float(max(Dmax, 2))
            self.legend.value = self._legend_html()
            if title is not None:
                self.figure.title = title
            self._relabel()

    def _legend_html(self) -> str:
        order = [k for k in self.names if k != self.highlight] + ([self.highlight] if self.highlight else [])
        rows = []
        for k in order:
            w = 4 if k == self.highlight else 2
            rows.append(f"<div><span style='display:inline-block;width:18px;height:{w}px;background:{self.colors[k]};"
                        f"vertical-align:middle;margin-right:6px'></span>{text(self.label(k))}</div>")
        return f"<div style='font-size:11px;line-height:1.5'>{''.join(rows)}</div>"

    def label(self, name: str) -> str:
        """Legend text of one spectrum: ``"name · AUC 12.3"``."""
        a = self.aucs.get(name, float("nan"))
        return f"{name} · AUC {a:.1f}" if np.isfinite(a) else f"{name} · AUC n/a"

    # ------------------------------------------------------------------ static render
    def render(self, ax) -> None:
        """Draw the current spectra on a matplotlib ``ax`` (for ``to_png`` and reports)."""
        for k in self.names:
            c = self.curves[k]
            ax.plot(np.arange(1, len(c) + 1), c, color=self.colors[k], label=self.label(k),
                    lw=3 if k == self.highlight else 1.4, zorder=3 if k == self.highlight else 2)
        if self.log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.02)
        ax.set_xlabel(self.figure.axes[0].label)
        ax.set_ylabel(self.figure.axes[1].label)
        ax.set_title(self.figure.title, fontsize=10)
        if self.names:
            ax.legend(fontsize=7, loc="upper right")

    def to_png(self, path, dpi: int = 120) -> str:
        """Write the view as a PNG (matplotlib, no browser needed). Returns the path."""
        from ._static import save_axes_png
        return save_axes_png(self.render, path, figsize=(5, 3.6), dpi=dpi)

    def to_bytes(self, dpi: int = 120) -> bytes:
        """The same PNG as :meth:`to_png`, as bytes."""
        from ._static import render_png_bytes
        return render_png_bytes(self.render, figsize=(5, 3.6), dpi=dpi)

    def alt_text(self) -> str:
        """What the view shows, in words: the text alternative of its picture and the view's
        accessible name (screen readers)."""
        lines = ", ".join(self.label(k) for k in self.names)
        return f"spectra {self.title}: {lines}" if lines else f"spectra {self.title}: nothing drawn yet"

    def _relabel(self, _change=None) -> None:
        aria = getattr(self, "aria", None)          # None while __init__ builds the view
        if aria is not None:
            aria.label = self.alt_text()

