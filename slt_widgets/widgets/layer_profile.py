"""`LayerProfile`: one per-layer measure of several networks, one line each; click a layer to select it."""
from __future__ import annotations

import numpy as np
import traitlets

from ._anywidget_base import STATIC, SLTAnyWidget, bundle_esm
from ._codec import ArrayTrait

__all__ = ["LayerProfile", "PROFILE_COLORS"]

#: one colour per network (matplotlib's tab10 order, as in the PNG)
PROFILE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


class LayerProfile(SLTAnyWidget):
    """A measure (LDA accuracy, an AUC, a count, …) per layer for ``M`` networks.

    Traits (all synced): ``layers`` ``[X]`` layer names (the x axis, e.g. ``input``, ``HL1`` …
    ``output``); ``names`` ``[M]`` networks; ``values`` float32 ``[M, X]`` (NaN where a measure is
    not defined for a net or a layer); ``colors`` ``[M]``; ``selectable`` ``[X]`` bools (a click on
    a layer column sets ``selected`` only where True); ``selected`` the selected layer name ("" none);
    ``title``, ``y_label``; ``pending`` (drawn "not computed yet"); ``width``, ``height`` (px).
    """

    _esm = bundle_esm("layer_profile.js")
    _css = STATIC / "layer_profile.css"

    values = ArrayTrait("float32", ndim=2, finite=False).tag(sync=True)
    layers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selectable = traitlets.List(traitlets.Bool()).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    y_label = traitlets.Unicode("").tag(sync=True)
    pending = traitlets.Bool(False).tag(sync=True)
    width = traitlets.Int(300).tag(sync=True)
    height = traitlets.Int(150).tag(sync=True)

    def __init__(self, layers, names, values=None, **kwargs):
        layers, names = [str(l) for l in layers], [str(n) for n in names]
        if values is None:
            values = np.full((len(names), len(layers)), np.nan, np.float32)
            kwargs.setdefault("pending", True)
        kwargs.setdefault("colors", [PROFILE_COLORS[i % len(PROFILE_COLORS)] for i in range(len(names))])
        kwargs.setdefault("selectable", [True] * len(layers))
        super().__init__(layers=layers, names=names, values=np.asarray(values, np.float32), **kwargs)

    def set_values(self, values, pending: bool = False) -> None:
        """Replace ``values [M, X]`` (same nets and layers) in one message."""
        with self.hold_sync():
            self.values = np.asarray(values, np.float32)
            self.pending = pending

    @traitlets.validate("values")
    def _v_values(self, proposal):
        v = proposal["value"]
        want = (len(self.names), len(self.layers))
        if self.names and self.layers and v.shape != want:
            raise traitlets.TraitError(f"values must be [M, X] = {list(want)} (nets × layers); got {list(v.shape)}")
        if np.isinf(v).any():
            raise traitlets.TraitError("values may hold NaN (not defined) but not ±inf")
        return v

    @traitlets.validate("selected")
    def _v_selected(self, proposal):
        s = proposal["value"]
        if s == "":
            return s
        if s not in self.layers:
            raise traitlets.TraitError(f"selected must be one of the layers {self.layers} or '', got {s!r}")
        if self.selectable and not self.selectable[self.layers.index(s)]:
            raise traitlets.TraitError(f"layer {s!r} cannot be selected here")
        return s

    @traitlets.validate("selectable")
    def _v_selectable(self, proposal):
        if self.layers and len(proposal["value"]) != len(self.layers):
            raise traitlets.TraitError(f"selectable needs one bool per layer ({len(self.layers)})")
        return proposal["value"]

    @traitlets.validate("width", "height")
    def _v_size(self, proposal):
        if proposal["value"] < 80:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be ≥ 80 pixels; got {proposal['value']}")
        return proposal["value"]

    def render(self, ax) -> None:
        """Draw the current state on a matplotlib ``ax`` (used by ``to_png`` and Compare's PNG)."""
        x = np.arange(len(self.layers))
        for s, name in enumerate(self.names):
            ax.plot(x, self.values[s], "o-", color=self.colors[s % len(self.colors)], label=name, ms=4)
        if self.selected:
            ax.axvspan(self.layers.index(self.selected) - 0.5, self.layers.index(self.selected) + 0.5,
                       color="#d62728", alpha=0.14, lw=0)
        ax.set_xticks(x, self.layers, fontsize=7, rotation=45)
        ax.set_xlim(-0.5, len(self.layers) - 0.5)
        ax.set_title(self.title, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        if self.pending and not np.isfinite(self.values).any():
            ax.text(0.5, 0.5, "not computed yet", ha="center", va="center", color="#888", fontsize=8,
                    transform=ax.transAxes)
            ax.set_yticks([])
        elif self.names:
            ax.legend(fontsize=6)

    def _figure(self):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=(self.width / 80, self.height / 80 + 0.4), dpi=100)
        FigureCanvasAgg(fig)
        self.render(fig.add_subplot(111))
        fig.tight_layout()
        return fig
