"""`Compare`: 2–4 networks side by side on the same frames — the paper's own method, live.

One selection (:class:`~.compare_state.CompareSelection`, held by the headless
:class:`~.compare_state.CompareState`) drives every side: a class and a layer picked in the
header, or a cluster clicked in one side's tree, show the same dataset indices on every side,
each with that net's SLTs, tree and spectra. Below, the mean SLTs of every side and the
difference of each pair; then the per-layer measures of every net (lazy, cached per model), where
a click on a layer selects it everywhere.
"""
from __future__ import annotations

import base64
import functools
import html
import io
import logging
import textwrap
from itertools import combinations
from pathlib import Path

import ipywidgets as W
import numpy as np

from ..analysis.layer_profiles import MEASURES
from ._busy import BusyIndicator, ErrorArea, guarded, single_blas
from ..analysis.clustering import cut_labels
from ._class_view import layer_label
from .aria_label import aria_label
from .cluster_tree import ClusterTree
from .compare_state import CompareSelection, CompareState, check_kwargs
from .layer_profile import PROFILE_COLORS, LayerProfile
from .spectrum_view import SpectrumView
from .template_panel import TemplatePanel

__all__ = ["Compare", "CompareSelection"]
_log = logging.getLogger(__name__)

_OPTIONS = ("cls", "layer", "max_samples", "n_clusters", "correct_by", "seed", "memory_budget", "profile_options",
            "profiles", "layout", "embed_png")


class Compare(W.VBox):
    """Networks side by side on the same frames (Figs. 2, 3, 6, 7 for several nets at once).

    Parameters
    ----------
    models : ``{name: model}``, 2 to 4 networks :func:`slt_widgets.slt` accepts, all taking the
        dataset's ``[N, D]`` features. Widths and depths may differ: layers are aligned by index
        (``HLk`` of each net, and the output); a net without ``HLk`` shows nothing there.
    dataset : a :class:`slt_widgets.FrameDataset` (the eval split).
    cls, layer : first selection (default the first class, ``"output"``).
    max_samples : frames per class shown (a seeded random subset), the same on every side.
    n_clusters : None (default): the prototype cut of the Explorer; an int: the coarsest cut drawing that many clusters.
    correct_by : ``"all"`` (frames every net classifies correctly, the paper's choice), a model
        name (frames that net gets right: the trained side of trained-vs-random) or None (all frames).
    seed, memory_budget : subsampling seed; each side's :class:`slt_widgets.SLTCache` budget.
    profile_options : keywords of :func:`slt_widgets.analysis.layer_profiles.layer_profile`
        (``train``, ``max_train``, ``max_eval``, ``node_samples``, ``inc_cor_samples``, ``measures``).
    profiles : compute the layer profiles now (default False: on the button, or on first access
        to :attr:`profiles`).

    A dataset joined by :func:`slt_widgets.datasets.with_source` (your recordings from
    :func:`~slt_widgets.datasets.load_recordings` or the ``Recorder``, next to the corpus) is read
    as the Explorer reads it: every one of your frames of the class is kept on every side
    (misclassified ones too; only the corpus's frames are filtered by ``correct_by`` and
    subsampled), the status and template heading split the count ("60 frames (12 yours)"), each
    side says in which of its clusters your frames sit and how many of them that net classifies
    correctly, its spectra add a line for your frames, and ``select(source="you")`` (or the
    ``source_picker``) shows only your frames on every side — ``"corpus"`` only the corpus's.

    Python API: :meth:`select`, :attr:`selection`, :attr:`profiles`, :meth:`compute_profiles`,
    :meth:`to_png`, :attr:`state` (the headless :class:`CompareState`); presets
    :meth:`trained_vs_random` and :meth:`demo`. Views: ``class_picker``, ``layer_picker``,
    ``sides[name]`` (``.tree``, ``.spectra``), ``templates``, ``profile_views[measure]``,
    ``profile_button``, ``busy``, ``error_area``.
    """

    def __init__(self, models, dataset, **kw):
        check_kwargs("Compare", kw, _OPTIONS)
        layout_kw = {k: kw.pop(k) for k in ("layout",) if k in kw}
        self.embed_png = bool(kw.pop("embed_png", True))
        eager = bool(kw.pop("profiles", False))
        super().__init__(**layout_kw)
        self.add_class("slt-compare")
        self.busy = BusyIndicator()
        with self.busy.running("computing SLTs…"), single_blas():
            self.state = CompareState(models, dataset, **kw)
        st = self.state
        self.dataset = dataset
        self._muted = False
        speech = getattr(dataset, "_frames", None) is not None
        self._unit = "frames" if speech else "samples"
        fs = tuple(dataset.feature_shape)
        self._shape = fs if len(fs) == 2 else (1, int(np.prod(fs)))

        # ---- header
        self.class_picker = W.Dropdown(options=list(dataset.class_names), description="class",
                                       layout=W.Layout(width="170px"), style={"description_width": "40px"})
        self.class_picker.add_class("slt-class-picker")
        self.layer_picker = W.Dropdown(options=[(layer_label(l), l) for l in st.layers()], description="layer",
                                       layout=W.Layout(width="150px"), style={"description_width": "40px"})
        self.layer_picker.add_class("slt-layer-picker")
        self.source_picker = W.Dropdown(options=["all"] + list(st.source_names or ()), value="all",
                                        description="frames", style={"description_width": "46px"},
                                        layout=W.Layout(width="170px", display=None if st.source_names else "none"))
        self.source_picker.add_class("slt-source-picker")
        self.status = W.HTML()
        self.status.add_class("slt-status")
        self.error_area = ErrorArea()
        depths = {n: s.n_hidden for n, s in st.sides.items()}
        align = ("Layers are aligned by index: HLk of each net" +
                 ("" if len(set(depths.values())) == 1 else
                  " (" + ", ".join(f"{html.escape(n)} has {d}" for n, d in depths.items()) + " hidden layers)")
                 + "; every side shows the same frames. At the output each side shows the class's own node; at a "
                 "hidden layer each net's node the class drives most (nodes of different nets do not correspond).")
        self.note = W.HTML(f"<small>{align}</small>")
        self.note.add_class("slt-compare-note")

        # ---- one column per side
        self.sides = {}
        cols = []
        tree_w = 470 if len(st.names) <= 2 else 330
        for i, name in enumerate(st.names):
            side = _SideViews(name, st.sides[name].architecture(), PROFILE_COLORS[i % len(PROFILE_COLORS)],
                              tree_w)
            side.tree.observe(self._tree_selected_cb(name), "selected")
            side.tree.observe(self._tree_cut_cb(name), "cut")
            self.sides[name] = side
            cols.append(side.box)
        self.side_row = W.HBox(cols, layout=W.Layout(flex_flow="row wrap"))
        self.side_row.add_class("slt-compare-sides")

        n_panels = 1 + len(st.names) + len(list(combinations(st.names, 2)))
        tp_kw = {} if speech else {"x_label": "column", "y_label": "row",
                                   "pixel_size": max(2, min(16, 128 // max(self._shape))),
                                   "x_ticks": [float(i) for i in range(self._shape[1])]}
        self.templates = TemplatePanel(np.zeros((n_panels,) + self._shape, np.float32), titles=[""] * n_panels,
                                       kinds=["features"] + ["slt"] * (n_panels - 1), count_unit=self._unit,
                                       columns=min(n_panels, 4 if len(st.names) > 2 else n_panels), **tp_kw)
        self.templates.add_class("slt-compare-templates")

        # ---- layer profiles
        names = list(st.names)
        x_layers = [layer_label(k) for k in ["input", *range(1, st.n_layers + 1), "output"]]
        self._x_layers = x_layers
        self.profile_views = {}
        for m, (label, fig) in MEASURES.items():
            v = LayerProfile(x_layers, names, title=f"{label} ({fig})", selectable=[l != "input" for l in x_layers],
                             width=300, height=150)
            v.add_class("slt-compare-profile")
            v.add_class(f"slt-profile-{m.replace('_', '-')}")
            v.observe(self._on_profile_click, "selected")
            self.profile_views[m] = v
        self.profile_button = W.Button(description="compute layer profiles", layout=W.Layout(width="210px"),
                                       tooltip="LDA accuracy, within-class AUC, node clusters, SLT AUC and "
                                               "INC − COR per layer for every net (cached per model)")
        self.profile_button.add_class("slt-profile-button")
        self.profile_busy = BusyIndicator()
        self.profile_status = W.HTML()
        self.profile_status.add_class("slt-profile-status")
        self.profile_box = W.VBox([W.HBox([self.profile_button, self.profile_busy, self.profile_status]),
                                   W.HBox(list(self.profile_views.values()), layout=W.Layout(flex_flow="row wrap"))])
        self.profile_box.add_class("slt-compare-profiles")

        self.children = [W.HBox([self.class_picker, self.layer_picker, self.source_picker, self.busy]), self.note,
                         self.status,
                         self.side_row, self.templates, self.profile_box, self.error_area]
        self.aria = aria_label(self, "", "region")    # accessible name, from the selection in _draw
        for key, picker in (("cls", self.class_picker), ("layer", self.layer_picker), ("source", self.source_picker)):
            picker.observe(functools.partial(self._on_picker, key), "value")
        self.profile_button.on_click(self._on_profile_button)
        self.state.observe(self._render, "selection")
        with self.busy.running("drawing…"), single_blas():
            self._render({"new": st.selection})
        self._show_profiles()
        if eager:
            self.compute_profiles()

    # ================================================================== Python API
    @property
    def selection(self) -> CompareSelection:
        """The current :class:`CompareSelection` (the same frames on every side)."""
        return self.state.selection

    def select(self, cls=None, layer=None, cluster=None, side=None, node=None, source=None, **kw) -> CompareSelection:
        """Select on every side; see :meth:`CompareState.select` (unknown keywords are refused)."""
        check_kwargs("Compare.select", kw, ("cls", "layer", "cluster", "side", "node", "source"))
        with self.busy.running("computing SLTs…"), single_blas():
            return self.state.select(cls=cls, layer=layer, cluster=cluster, side=side, node=node, source=source)

    @property
    def profiles(self) -> dict:
        """``{measure: {model: {layer: value}}}`` (computed on first access, cached per model)."""
        self.compute_profiles()
        return self.state.profiles

    def compute_profiles(self) -> None:
        """Compute every net's layer profile (each once; cached by its weights) and draw them."""
        with self.profile_busy.running("computing layer profiles…"), single_blas():
            for i, name in enumerate(self.state.names):
                if not self.state.profile_ready(name):
                    self.profile_status.value = (f"<small>{html.escape(name)} ({i + 1}/{len(self.state.names)})"
                                                 "…</small>")
                    self.state.profile(name)
                    self._show_profiles()
        self._show_profiles()

    def to_png(self, path=None, dpi: int = 90):
        """Every view's static render composed into one PNG (matplotlib, no browser): the PNG
        bytes with ``path=None``, else the path written (atomically, a ``.png`` name)."""
        import matplotlib.image as mpimg
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if path is not None and Path(path).suffix.lower() != ".png":
            raise ValueError(f"to_png writes PNG files; give a path ending in .png, got {Path(path).name!r}")
        S = len(self.state.names)
        fig = Figure(figsize=(5.2 * S, 13), dpi=dpi)
        FigureCanvasAgg(fig)
        s = self.selection
        fig.suptitle(f"class {s.cls} · {s.layer_name} · {self._cluster_text(s)}{s.source_text} · "
                     f"{self.state.count_text()}", fontsize=13)
        gs = fig.add_gridspec(4, S * 5, height_ratios=[3, 2.4, 2.6, 2.2])
        for i, name in enumerate(self.state.names):
            sv = self.sides[name]
            ax = fig.add_subplot(gs[0, i * 5:(i + 1) * 5])
            if sv.tree.layout.display == "none":
                ax.text(0.5, 0.5, f"{name}: no {s.layer_name}", ha="center", va="center")
            else:
                ax.imshow(mpimg.imread(io.BytesIO(sv.tree.to_png(None, dpi=dpi)), format="png"))
            ax.set_axis_off()
            where = self.state.where_yours(name)
            line = "" if where is None else "\n" + textwrap.fill(yours_line(where, self._you(), name), 70)
            ax.set_title(f"{name} ({self.state.sides[name].architecture()}){line}", fontsize=10)
            ax = fig.add_subplot(gs[1, i * 5:(i + 1) * 5])
            if sv.spectra.names:
                sv.spectra.render(ax)
            else:
                ax.set_axis_off()
        ax = fig.add_subplot(gs[2, :])
        ax.imshow(mpimg.imread(io.BytesIO(self.templates.to_png(None, dpi=dpi)), format="png"))
        ax.set_axis_off()
        k = len(self.profile_views)
        for j, v in enumerate(self.profile_views.values()):
            lo, hi = (j * S * 5) // k, ((j + 1) * S * 5) // k
            v.render(fig.add_subplot(gs[3, lo:hi]))
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        data = buf.getvalue()
        if path is None:
            return data
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return str(path)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None or not self.embed_png:
            return bundle
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        try:
            data["image/png"] = base64.b64encode(self.to_png(dpi=60)).decode("ascii")
        except Exception as err:  # noqa: BLE001 - the live widget must display even if the PNG fails
            _log.warning("Compare: static PNG failed: %s", err)
        return data, meta

    # ================================================================== presets
    @classmethod
    def trained_vs_random(klass, model, dataset, *, seed: int = 0, names=("trained", "random"), **kw) -> "Compare":
        """``model`` against a copy of its architecture re-initialised with ``seed`` (the report's
        control, live). Frames default to those the trained net classifies correctly."""
        import copy
        import torch
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f"names must be two different strings, got {names!r}")
        rand = copy.deepcopy(model)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for m in rand.modules():
                if m is not rand and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
                if hasattr(m, "reset_running_stats"):
                    m.reset_running_stats()
        rand.eval()
        kw.setdefault("correct_by", names[0])
        return klass({names[0]: model, names[1]: rand}, dataset, seed=seed, **kw)

    @classmethod
    def demo(klass, split: str = "eval", **kw) -> "Compare":
        """The shipped demo nets side by side: small (5 × 256, no regularisation) against wide
        (wider, batch norm + 20 % dropout), on the demo ``split``."""
        from ..demo import load_demo
        small, ds = load_demo("small", split)
        wide, _ = load_demo("wide", split)
        return klass({"small": small, "wide": wide}, ds, **kw)

    # ================================================================== drawing
    def _you(self) -> str:
        """The user's source name (``meta["source_names"][1]``, usually ``"you"``)."""
        return self.state.source_names[1] if self.state.source_names else "you"

    @staticmethod
    def _cluster_text(s: CompareSelection) -> str:
        return "whole class" if s.cluster is None else f"cluster {s.cluster} of {s.side}"

    def _set_quiet(self, widget, name, value) -> None:
        self._muted = True
        try:
            setattr(widget, name, value)
        finally:
            self._muted = False

    def _render(self, change) -> None:
        """Redraw every side, the templates and the status from ``selection`` (widget echoes muted)."""
        self._muted = True
        try:
            self._draw(change["new"])
        finally:
            self._muted = False

    def _draw(self, s: CompareSelection) -> None:
        st = self.state
        pos = st.positions()
        names = self.dataset.class_names
        self.class_picker.value = s.cls
        self.layer_picker.value = s.layer
        self.source_picker.value = s.source
        mine = st.yours()
        you = self._you()
        for v in self.profile_views.values():
            v.selected = s.layer_name
        idx, note = st.class_samples(self.dataset.class_index(s.cls))
        feats = self.dataset.features_at(s.indices).mean(0) if s.n else np.zeros(int(np.prod(self._shape)))
        means, panels, titles, kinds = {}, [feats], ["mean features"], ["features"]
        for name in st.names:
            v, sv = st.view(name), self.sides[name]
            if v is None:
                sv.show_missing(s.layer_name, st.sides[name].n_hidden)
                means[name] = None
                continue
            sel_here = s.side == name and s.cluster is not None
            sv.show_view(v, s.cuts[name], s.cluster if sel_here else -1, names[v.cls])
            spectra = {f"class {s.cls} (n={v.n})": v.sigmas}
            highlight = None
            if s.cluster is not None or s.source != "all":
                key = f"{self._cluster_text(s)}{s.source_text} (n={s.n})"
                spectra[key] = np.linalg.svd(v.slts[pos].astype(np.float64), compute_uv=False)
                highlight = key
            elif mine is not None and mine.any():       # your frames of the class against the class
                key = f"{you} (n={int(mine.sum())})"
                spectra[key] = np.linalg.svd(v.slts[mine].astype(np.float64), compute_uv=False)
                highlight = key
            sv.show_yours(st.where_yours(name), you)
            sv.spectra.set_spectra(spectra, highlight=highlight, colors={f"class {s.cls} (n={v.n})": sv.color},
                                   title=f"{name} · SLT spectra · {s.layer_name} node {v.node}")
            means[name] = v.slts[pos].mean(0)
            panels.append(means[name])
            titles.append(f"{name}: mean SLT (node {v.node})")
            kinds.append("slt")
        for a, b in combinations(st.names, 2):
            if means[a] is None or means[b] is None:
                continue
            # nets differ in scale (batch norm, width): compare the templates' shapes, each ÷ its RMS
            panels.append(_unit_rms(means[a]) - _unit_rms(means[b]))
            titles.append(f"{a} − {b} (each ÷ RMS)")
            kinds.append("diff")
        imgs = np.stack(panels).astype(np.float32).reshape((len(panels),) + self._shape)
        head = f"{s.cls} · {s.layer_name} · {self._cluster_text(s)}{s.source_text}"
        count = s.n
        if s.n_yours is not None:           # the panel's "— n frames" cannot split the count: say it here
            head, count = f"{head} — {st.count_text()}", None
        self.templates.set_panels(imgs, titles=titles, kinds=kinds, title=head, count=count,
                                  columns=min(len(panels), 4 if len(st.names) > 2 else len(panels)))
        self.aria.label = f"Compare {', '.join(st.names)}: {head}" + (f" — {s.n} {self._unit}" if count is not None else "")
        self.status.value = (f"<small>{html.escape(note)}. Showing {html.escape(self._cluster_text(s) + s.source_text)}"
                             f": <b>{html.escape(st.count_text())}</b> on every side.</small>")

    def _show_profiles(self) -> None:
        st = self.state
        ready = {n: st.profile_ready(n) for n in st.names}
        for m, view in self.profile_views.items():
            vals = np.full((len(st.names), len(self._x_layers)), np.nan, np.float32)
            for i, n in enumerate(st.names):
                if ready[n]:
                    prof = st.profile(n).values.get(m, {})
                    for j, l in enumerate(self._x_layers):
                        if l in prof and np.isfinite(prof[l]):
                            vals[i, j] = prof[l]
            view.set_values(vals, pending=not all(ready.values()))
        done = sum(ready.values())
        self.profile_status.value = ("" if done == len(ready) else
                                     f"<small>{done} of {len(ready)} nets' profiles computed</small>")
        self.profile_button.layout.display = "none" if done == len(ready) else None

    # ================================================================== callbacks
    def _revert(self) -> None:
        s = self.state.selection
        self._muted = True
        try:
            self.class_picker.value = s.cls
            self.layer_picker.value = s.layer
            self.source_picker.value = s.source
        finally:
            self._muted = False

    @guarded
    def _on_picker(self, key: str, change):
        """A header dropdown changed: ``select(key=new value)``; on an error every picker snaps back."""
        if self._muted:
            return
        try:
            self.select(**{key: change["new"]})
        except Exception:
            self._revert()
            raise

    @guarded
    def _on_profile_click(self, change):
        if self._muted or not change["new"]:
            return
        self.select(layer=change["new"])

    @guarded
    def _on_profile_button(self, _button):
        self.compute_profiles()

    def _tree_selected_cb(self, name):
        @guarded
        def _on_tree_selected(self_, change):
            if self._muted:
                return
            k = int(change["new"])
            self.select(cluster=None if k < 0 else k, side=name)
        return lambda change: _on_tree_selected(self, change)

    def _tree_cut_cb(self, name):
        @guarded
        def _on_tree_cut(self_, change):
            if self._muted:
                return
            with self.busy.running("cutting…"), single_blas():
                self.state.set_cut(name, float(change["new"]))
        return lambda change: _on_tree_cut(self, change)


class _SideViews:
    """The widgets of one side: a heading, its tree and its spectra."""

    def __init__(self, name: str, architecture: str, color: str, tree_width: int):
        self.name, self.color = name, color
        # the side's colour (its line in the profiles) as a swatch, the name in the theme's font colour:
        # coloured text fails 4.5 : 1 on one of the themes (#1f77b4 on JupyterLab Dark: 3.3 : 1)
        self.head = W.HTML(f"<span style='display:inline-block;width:11px;height:11px;background:{color};"
                           f"margin-right:6px;vertical-align:-1px' aria-hidden='true'></span>"
                           f"<b>{html.escape(name)}</b> <small>({html.escape(architecture)})</small>")
        self.head.add_class("slt-compare-side-head")
        self.tree = ClusterTree(np.array([[0.0, 1.0, 1.0, 2.0]]), title="", height=260, width=tree_width)
        self.tree.add_class("slt-compare-tree")
        self.missing = W.HTML()
        self.missing.add_class("slt-compare-missing")
        self.missing.layout.display = "none"
        self.yours = W.HTML(layout=W.Layout(display="none", width=f"{tree_width}px"))
        self.yours.add_class("slt-compare-yours")
        self.spectra = SpectrumView("SLT spectra", width=f"{tree_width}px", height="220px")
        self.spectra.layout.flex = "0 0 auto"     # its row flex basis (a width) would be a height in this column
        self.box = W.VBox([self.head, self.tree, self.missing, self.yours, self.spectra],
                          layout=W.Layout(margin="0 12px 8px 0"))
        self.box.add_class("slt-compare-side")
        self.box.add_class(f"slt-compare-side-{_css_name(name)}")

    def show_yours(self, where: dict | None, you: str) -> None:
        """One line under the tree: in which clusters the user's frames sit and how many this net gets right."""
        if where is None:
            self.yours.layout.display = "none"
            self.yours.value = ""
            return
        self.yours.layout.display = None
        self.yours.value = f"<small>{html.escape(yours_line(where, you, self.name))}</small>"

    def show_missing(self, layer_name: str, n_hidden: int) -> None:
        self.tree.layout.display = "none"
        self.spectra.layout.display = "none"
        self.yours.layout.display = "none"
        self.missing.layout.display = None
        self.missing.value = (f"<small>{html.escape(self.name)} has no {layer_name}: it has {n_hidden} hidden "
                              "layers (layers are aligned by index).</small>")

    def show_view(self, v, cut: float, selected: int, cls_name: str) -> None:
        self.tree.layout.display = None
        self.spectra.layout.display = None
        self.missing.layout.display = "none"
        Z = v.linkage
        top = float(Z[:, 2].max())
        cut = min(cut, top)
        same = self.tree.linkage.shape == Z.shape and np.array_equal(self.tree.linkage, Z)
        with self.tree.hold_sync():
            if not same:
                self.tree.leaf_names = None
                self.tree.linkage = Z
                self.tree.leaf_names = [str(i) for i in v.index]
            # one leaf per cluster at the cut, the clusters of ≥ 2 % in colour (as the Explorer)
            sizes = np.bincount(cut_labels(Z, cut))
            self.tree.max_leaves = max(2, len(sizes))
            self.tree.n_drawn = int((sizes >= max(2, int(np.ceil(0.02 * len(v.index))))).sum())
            if self.tree.cut != cut:
                self.tree.cut = cut
            self.tree.selected = selected
            self.tree.title = f"{self.name} · UPGMA of SLTs · {cls_name} · {layer_label(v.layer)} node {v.node}"


def yours_line(where: dict, you: str, name: str) -> str:
    """``"you: 13 frames in cluster 0: 5, cluster 2: 4; small classifies 9 of 13 correctly."`` from
    :meth:`CompareState.where_yours` (plain text: the caller escapes it for HTML)."""
    if not where["n"]:
        return f"No frames from {you} in this class."
    parts = ", ".join(f"cluster {k}: {n}" for k, n in sorted(where["clusters"].items(), key=lambda kv: -kv[1]))
    return f"{you}: {where['n']} frames in {parts}; {name} classifies {where['correct']} of {where['n']} correctly."


def _unit_rms(t: np.ndarray) -> np.ndarray:
    """``t [F]`` divided by its root mean square (all-zero stays zero)."""
    r = float(np.sqrt(np.mean(np.square(t, dtype=np.float64))))
    return t / r if r > 0 else t


def _css_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower())
