"""`ConfusionPairs` (Fig. 8C): how the network tells two confusable classes apart.

Mean SLT of output node a and of output node b to the (correctly classified) samples of class
a and of class b, and their difference (node a − node b): the weights both nodes share cancel,
what remains is what distinguishes the pair.
"""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..analysis import pair_templates, predict
from ._busy import BusyIndicator, ErrorArea, guarded
from ._static import StaticPNG
from .aria_label import aria_label
from .template_panel import TemplatePanel

__all__ = ["ConfusionPairs"]


class ConfusionPairs(StaticPNG, W.VBox):
    """A 2 × 3 :class:`TemplatePanel`: rows = samples of class a / class b, columns = mean SLT
    of node a, of node b, and node a − node b.

    ``ConfusionPairs(model, dataset, "s", "z", max_samples=2000, seed=0)``; the pair can be
    changed with the two dropdowns or :meth:`set_pair`. After a change, ``result`` holds the
    :class:`slt_widgets.analysis.PairTemplates` (``mean [2 nodes, 2 classes, F]``,
    ``difference [2 classes, F]``, ``n [2]``).
    """

    def __init__(self, model, dataset, a, b, *, max_samples: int | None = 2000, seed: int = 0, **kw):
        super().__init__(**kw)
        if not hasattr(dataset, "class_names"):
            raise TypeError("dataset must be a slt_widgets.FrameDataset")
        self.add_class("slt-confusion-pairs")
        self.model, self.dataset, self.max_samples, self.seed = model, dataset, max_samples, seed
        names = list(dataset.class_names)
        self.picker_a = W.Dropdown(options=names, description="a", layout=W.Layout(width="140px"),
                                   style={"description_width": "20px"})
        self.picker_b = W.Dropdown(options=names, description="b", layout=W.Layout(width="140px"),
                                   style={"description_width": "20px"})
        self.busy = BusyIndicator()
        self.error_area = ErrorArea()
        fs = tuple(dataset.feature_shape)
        self._shape = fs if len(fs) == 2 else (1, int(np.prod(fs)))
        speech = getattr(dataset, "_frames", None) is not None
        tp_kw = {} if speech else {"x_label": "column", "y_label": "row",
                                   "x_ticks": [float(i) for i in range(self._shape[1])]}
        self.templates = TemplatePanel(np.zeros((6,) + self._shape, np.float32), titles=[""] * 6,
                                       kinds=["slt", "slt", "diff"] * 2, columns=3, shared_scale=True,
                                       count_unit="frames" if speech else "samples", **tp_kw)
        self.children = [W.HBox([self.picker_a, self.picker_b, self.busy]), self.templates, self.error_area]
        self.aria = aria_label(self, "confusable pair", "region")   # named from the pair by set_pair
        self._pred = None
        self._muted = False
        self.result = None
        self.set_pair(a, b)
        self.picker_a.observe(self._on_pick, "value")
        self.picker_b.observe(self._on_pick, "value")

    def set_pair(self, a, b) -> None:
        """Show the pair ``(a, b)`` (names, case-insensitive, or indices; must differ)."""
        ia, ib = self.dataset.class_index(a), self.dataset.class_index(b)
        if ia == ib:
            raise ValueError(f"a confusable pair needs two different classes, got {self.dataset.class_names[ia]!r} "
                             "twice")
        with self.busy.running("computing SLTs…"):
            if self._pred is None:
                self._pred = predict(self.model, self.dataset)
            r = pair_templates(self.model, self.dataset, ia, ib, pred=self._pred, max_samples=self.max_samples,
                               seed=self.seed)
            na, nb = (self.dataset.class_names[i] for i in (ia, ib))
            # mean[node, class]; rows of the grid are the classes
            imgs = np.stack([r.mean[0, 0], r.mean[1, 0], r.difference[0],
                             r.mean[0, 1], r.mean[1, 1], r.difference[1]]).astype(np.float32)
            titles = [f"node {na} · class {na} (n={r.n[0]})", f"node {nb} · class {na}",
                      f"node {na} − node {nb} · class {na}",
                      f"node {na} · class {nb} (n={r.n[1]})", f"node {nb} · class {nb}",
                      f"node {na} − node {nb} · class {nb}"]
            self.templates.set_panels(imgs.reshape((6,) + self._shape), titles=titles,
                                      kinds=["slt", "slt", "diff"] * 2, title=f"confusable pair {na} / {nb}",
                                      count=int(r.n.sum()))
            self.result = r
            self.aria.label = (f"confusable pair {na} / {nb}: mean SLTs of output nodes {na} and {nb} and their "
                               f"difference, to {r.n[0]} samples of {na} and {r.n[1]} of {nb}")
            self._muted = True
            try:
                self.picker_a.value, self.picker_b.value = na, nb
            finally:
                self._muted = False

    @guarded
    def _on_pick(self, change):
        if self._muted:
            return
        if self.picker_a.value == self.picker_b.value:
            raise ValueError("pick two different classes")
        self.set_pair(self.picker_a.value, self.picker_b.value)

    def to_png(self, path, dpi: int = 110):
        """PNG of the template grid (see :meth:`TemplatePanel.to_png`)."""
        return self.templates.to_png(path, dpi=dpi)
