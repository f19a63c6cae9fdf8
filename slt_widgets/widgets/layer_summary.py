"""`LayerSummary` (Fig. 2/3/7): how the spectra and their AUC change from layer to layer."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..analysis import layer_spectra
from ._busy import BusyIndicator, ErrorArea
from .._files import atomic_open
from ._html import text
from ._static import literal_text
from ._class_view import layer_label
from ._static import StaticPNG
from .aria_label import aria_label
from .spectrum_view import SpectrumView

__all__ = ["LayerSummary"]


class LayerSummary(StaticPNG, W.VBox):
    """Three :class:`SpectrumView` panels and a table, one line / row per layer.

    Panels: LDA explained-variance ratio (Fig. 3A), class-averaged within-class spectra of the
    LDA-projected activations (Fig. 3B), mean node SLT spectra (Fig. 7A; hidden layers only).
    Table: LDA accuracy, the three AUCs and dead nodes per layer.

    ``LayerSummary(model, dataset, train=None, **kw)``: ``dataset`` is the split analysed
    (eval), ``train`` the split the LDAs are fitted on (default ``dataset``); other keywords go
    to :func:`slt_widgets.analysis.layer_spectra` (``max_train``, ``max_eval``,
    ``node_samples``, ``seed``). ``result`` holds the :class:`LayerSpectra` (arrays ``[L, D]``,
    AUCs ``[L]``).
    """

    def __init__(self, model, dataset, *, train=None, progress: bool = False, **kw):
        layout_kw = {k: kw.pop(k) for k in ("layout",) if k in kw}
        super().__init__(**layout_kw)
        self.add_class("slt-layer-summary")
        self.busy = BusyIndicator()
        self.error_area = ErrorArea()
        with self.busy.running("computing spectra…"):
            self.result = layer_spectra(model, dataset, train=train, progress=progress, **kw)
        r = self.result
        names = [layer_label(l) for l in r.layers]
        self.layer_names = tuple(names)
        self.evr_view = SpectrumView("LDA explained variance (3A)", y_label="EVR / EVR₁", width="340px")
        self.within_view = SpectrumView("within-class, LDA space (3B)", width="340px")
        self.node_view = SpectrumView("node SLT spectra (7A)", width="340px")
        self.evr_view.set_spectra(dict(zip(names, r.evr)))
        self.within_view.set_spectra(dict(zip(names, r.within)))
        hid = {n: s for n, s in zip(names, r.node_sigma) if np.isfinite(s).all()}
        if hid:
            self.node_view.set_spectra(hid)
        self.table = W.HTML(self._table_html())
        self.table.add_class("slt-layer-table")
        self.children = [W.HBox([self.evr_view, self.within_view, self.node_view]), self.table, self.busy,
                         self.error_area]
        self.aria = aria_label(self, f"layer summary of {', '.join(names)}: LDA explained variance, within-class "
                                     "and node SLT spectra with their AUC, and a table of LDA accuracy, AUCs and "
                                     "dead nodes per layer", "region")

    def _table_html(self) -> str:
        r = self.result

        def f(v, fmt):
            return "–" if not np.isfinite(v) else format(v, fmt)

        rows = "".join(
            f"<tr><td>{text(n)}</td><td>{f(r.accuracy[i] * 100, '.1f')}</td><td>{f(r.evr_auc[i], '.2f')}</td>"
            f"<td>{f(r.within_auc[i], '.2f')}</td><td>{f(r.node_auc[i], '.2f')}</td><td>{int(r.n_dead[i])}</td></tr>"
            for i, n in enumerate(self.layer_names))
        head = ("<tr><th>layer</th><th>LDA acc. %</th><th>EVR AUC</th><th>within AUC</th><th>node SLT AUC</th>"
                "<th>dead nodes</th></tr>")
        return ("<style>.slt-layer-table td,.slt-layer-table th{padding:2px 10px;border-bottom:1px solid var(--jp-border-color2, #ddd);"
                "text-align:right}</style><table style='border-collapse:collapse;font-size:12px'>"
                f"<thead>{head}</thead><tbody>{rows}</tbody></table>")

    @literal_text
    def to_png(self, path, dpi: int = 110) -> str:
        """The three spectrum panels side by side and the table, as one PNG (matplotlib)."""
        from pathlib import Path

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ValueError(f"to_png writes PNG files; give a path ending in .png, got {path.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as f:
            self._figure(dpi).savefig(f, format="png")
        return str(path)

    @literal_text
    def _static_png(self, dpi: int) -> bytes:
        """The :meth:`to_png` picture as bytes (embedded next to the live view when displayed)."""
        import io
        buf = io.BytesIO()
        self._figure(dpi).savefig(buf, format="png")
        return buf.getvalue()

    def _figure(self, dpi: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(15, 6.2), dpi=dpi)
        FigureCanvasAgg(fig)
        gs = fig.add_gridspec(2, 3, height_ratios=[3, 1.2])
        for i, v in enumerate((self.evr_view, self.within_view, self.node_view)):
            v.render(fig.add_subplot(gs[0, i]))
        ax = fig.add_subplot(gs[1, :])
        ax.set_axis_off()
        r = self.result
        cells = [[n, f"{r.accuracy[i] * 100:.1f}", f"{r.evr_auc[i]:.2f}", f"{r.within_auc[i]:.2f}",
                  "–" if not np.isfinite(r.node_auc[i]) else f"{r.node_auc[i]:.2f}", str(int(r.n_dead[i]))]
                 for i, n in enumerate(self.layer_names)]
        ax.table(cellText=cells, colLabels=["layer", "LDA acc. %", "EVR AUC", "within AUC", "node SLT AUC",
                                            "dead nodes"], loc="center")
        fig.tight_layout()
        return fig
