"""`Explorer`: one class's SLTs, clustered, embedded and drawn as templates, all views linked.

State flows one way: a user action (dropdown, tree click, brush, ``select()``) computes what it
needs (lazily, through :class:`slt_widgets.SLTCache` and a small memo of derived results), then
sets the :class:`Selection` trait; one observer redraws every view from that state.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
import traitlets as T

from ..engine import SLTCache, to_chain
from ._busy import BusyIndicator, ErrorArea, guarded, single_blas
from .._files import atomic_open
from ._html import text
from ._static import literal_text
from ._class_view import (ClassView, build_class_view, class_samples, default_cut, default_node, layer_shapes, leaves_for_cut, embed_points,
                          layer_key, layer_label, nearest_to_centroid, wav_bytes)
from .cluster_tree import ClusterTree
from .embedding_view import EmbeddingView
from ._static import StaticPNG
from .spectrum_view import SpectrumView
from .template_panel import TemplatePanel

__all__ = ["Explorer", "Selection"]

_MEMO_SIZE = 24


@dataclass(frozen=True)
class Selection:
    """What the Explorer shows (read-only).

    cls: class name; layer: ``1..L`` or ``"output"``; node: the node whose SLT is shown;
    cluster: ``None`` (the whole class), an ``int`` cluster id of the tree at ``cut``, or
    ``"brush"`` (points picked in the embedding); indices: ``[n]`` dataset indices of the
    selected samples (read-only array); n: their number; cut: the tree's cut height.
    """

    cls: str
    layer: int | str
    node: int
    cluster: int | str | None
    indices: np.ndarray = field(repr=False)
    n: int
    cut: float

    @property
    def layer_name(self) -> str:
        return layer_label(self.layer)


class Explorer(StaticPNG, W.VBox):
    """Linked views of one class's sample-dependent linear transforms (Fig. 6, 8B).

    Parameters
    ----------
    model : an ``nn.Module`` that :func:`slt_widgets.slt` accepts (ReLU MLP, ``nn.Sequential``).
    dataset : a :class:`slt_widgets.FrameDataset` (features ``[N, D]``, ``feature_shape`` for
        the templates, ``labels [N]``, ``class_names``).
    layer : ``"output"`` (default), ``1..L`` or ``"HLk"``.
    cls : class name (case-insensitive) or index; default the first class.
    max_samples : at most this many (correctly classified) samples per class, a seeded
        random subset (``seed``) — keeps clustering interactive.
    memory_budget : of the :class:`SLTCache` (``"1GB"``, bytes, …).
    node : node of ``layer`` whose SLT is shown (default: the class's output node, or the
        hidden node the class activates most).
    embedding : ``"mds"`` (classical MDS, fast) or ``"tsne"``.
    embed_space : ``"slt"`` (the SLTs ``[n, F]``) or ``"lda"`` (activations of ``layer``
        projected by an LDA fitted on up to ``lda_samples`` samples of ``dataset``).
    n_clusters : clusters at the initial cut of each new tree.
    correct_only : use only samples the network classifies correctly (the paper's choice).

    Python API: :meth:`select`, :attr:`selection`, :attr:`cache`, :meth:`to_png`,
    :meth:`play_exemplars`. Views: ``class_picker``, ``layer_picker``, ``node_picker``,
    ``cut_slider``, ``tree`` (:class:`ClusterTree`), ``templates`` (:class:`TemplatePanel`,
    ``[3, H, W]``: mean features, mean SLT, SLT difference to the reference), ``embedding``
    (:class:`EmbeddingView`), ``spectra`` (:class:`SpectrumView`), ``busy``, ``error_area``.
    """

    selection = T.Instance(Selection, allow_none=True, read_only=True)

    def __init__(self, model, dataset, layer="output", cls=None, max_samples: int = 2000,
                 memory_budget="1GB", *, node: int | None = None, embedding: str = "mds",
                 embed_space: str = "slt", n_clusters: int = 4, correct_only: bool = True, seed: int = 0,
                 lda_samples: int = 20000, **kw):
        super().__init__(**kw)
        for attr in ("labels", "class_names", "feature_shape", "features_at"):
            if not hasattr(dataset, attr):
                raise TypeError(f"dataset must be a slt_widgets.FrameDataset (missing .{attr}); wrap arrays "
                                "with FrameDataset.from_arrays(features, labels, class_names, feature_shape)")
        if not isinstance(max_samples, (int, np.integer)) or max_samples < 3:
            raise ValueError(f"max_samples must be an int ≥ 3 (clustering needs samples), got {max_samples!r}")
        if embedding not in ("mds", "tsne"):
            raise ValueError(f"embedding must be 'mds' or 'tsne', got {embedding!r}")
        if embed_space not in ("slt", "lda"):
            raise ValueError(f"embed_space must be 'slt' or 'lda', got {embed_space!r}")
        if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
            raise ValueError(f"n_clusters must be an int ≥ 1, got {n_clusters!r}")
        self.add_class("slt-explorer")
        self.model, self.dataset = model, dataset
        self.chain = layer_shapes(model, dataset)  # a Chain, or the shapes a conv/residual net shows
        if self.chain.d_in != dataset.n_features:
            raise ValueError(f"the model expects {self.chain.d_in} inputs but the dataset has "
                             f"{dataset.n_features} features per sample; pass the matching dataset")
        self.cache = SLTCache(model, dataset, memory_budget)
        self.max_samples, self.seed, self.correct_only = int(max_samples), int(seed), bool(correct_only)
        self.n_clusters, self.lda_samples = int(n_clusters), int(lda_samples)
        self._samples: dict[int, tuple[np.ndarray, str]] = {}
        self._views: OrderedDict = OrderedDict()
        self._embeds: OrderedDict = OrderedDict()
        self._refs: OrderedDict = OrderedDict()
        self._lda: dict = {}
        self._view: ClassView | None = None
        self._muted = False
        self._brush_positions: np.ndarray | None = None
        self.last_exemplars: np.ndarray | None = None
        speech = getattr(dataset, "_frames", None) is not None
        self._unit = "frames" if speech else "samples"

        # ---- controls
        L = self.chain.n_hidden
        self.class_picker = W.Dropdown(options=list(dataset.class_names), description="class",
                                       layout=W.Layout(width="170px"), style={"description_width": "40px"})
        self.class_picker.add_class("slt-class-picker")
        self.layer_picker = W.Dropdown(options=[(f"HL{i}", i) for i in range(1, L + 1)] + [("output", "output")],
                                       description="layer", layout=W.Layout(width="150px"),
                                       style={"description_width": "40px"})
        self.layer_picker.add_class("slt-layer-picker")
        self.node_picker = W.Dropdown(options=[("0", 0)], description="node", layout=W.Layout(width="200px"),
                                      style={"description_width": "40px"})
        self.node_picker.add_class("slt-node-picker")
        self.space_picker = W.Dropdown(options=[("SLTs", "slt"), ("LDA activations", "lda")], value=embed_space,
                                       description="embed", layout=W.Layout(width="200px"),
                                       style={"description_width": "50px"})
        self.method_picker = W.Dropdown(options=[("MDS", "mds"), ("t-SNE", "tsne")], value=embedding,
                                        layout=W.Layout(width="90px"))
        self.cut_slider = W.FloatSlider(description="cut", min=0.0, max=1.0, step=0.001, continuous_update=False,
                                        readout_format=".3g", layout=W.Layout(width="360px"),
                                        style={"description_width": "40px"})
        self.cut_slider.add_class("slt-cut-slider")
        self.busy = BusyIndicator()
        self.status = W.HTML()
        self.status.add_class("slt-status")
        self.error_area = ErrorArea()
        self.embedding = EmbeddingView("Embedding")
        self.spectra = SpectrumView("SLT spectra")
        self.audio_box = W.HBox()
        self.audio_box.add_class("slt-audio")
        self.play_button = W.Button(description="▶ play exemplars", layout=W.Layout(width="150px"),
                                    tooltip="the samples nearest the cluster's mean SLT")
        self.play_button.add_class("slt-play")
        self.play_button.layout.display = None if getattr(dataset, "has_audio", False) else "none"

        # ---- first view (the tree and template widgets need data to exist)
        first = dataset.class_names[0] if cls is None else cls
        c = dataset.class_index(first)
        lay = layer_key(self.chain, layer)
        with self.busy.running("computing SLTs…"), single_blas():
            view = self._class_view(c, lay, node)
        cut0 = default_cut(view.linkage, self.n_clusters)
        self.tree = ClusterTree(view.linkage, cut=cut0, max_leaves=leaves_for_cut(view.linkage, cut0),
                                title="UPGMA of SLTs", height=300, width=470)
        self.tree.add_class("slt-explorer-tree")
        fs = tuple(dataset.feature_shape)
        shape = fs if len(fs) == 2 else (1, int(np.prod(fs)))
        self._shape = shape
        tp_kw = {} if speech else {"x_label": "column", "y_label": "row", "pixel_size": max(2, min(16, 128 // max(shape))),
                                   "x_ticks": [float(i) for i in range(shape[1])]}
        self.templates = TemplatePanel(np.zeros((3,) + shape, np.float32), titles=["", "", ""],
                                       kinds=["features", "slt", "diff"], count_unit=self._unit, columns=3, **tp_kw)
        self.templates.add_class("slt-explorer-templates")

        self.children = [
            W.HBox([self.class_picker, self.layer_picker, self.node_picker, self.busy]),
            W.HBox([self.cut_slider, self.status]),
            W.HBox([self.tree, self.templates]),
            W.HBox([self.embedding, self.spectra]),
            W.HBox([self.space_picker, self.method_picker, self.play_button, self.audio_box]),
            self.error_area,
        ]
        self.observe(self._render, "selection")
        self.class_picker.observe(self._on_class, "value")
        self.layer_picker.observe(self._on_layer, "value")
        self.node_picker.observe(self._on_node, "value")
        self.space_picker.observe(self._on_embedding_option, "value")
        self.method_picker.observe(self._on_embedding_option, "value")
        self.cut_slider.observe(self._on_slider, "value")
        self.tree.observe(self._on_tree_cut, "cut")
        self.tree.observe(self._on_tree_selected, "selected")
        self.embedding.observe(self._on_brush, "selected")
        self.play_button.on_click(self._on_play)
        with self.busy.running("computing…"), single_blas():
            self._show_view(view)
            self._commit(None)

    # ================================================================== Python API
    def select(self, cls=None, layer=None, cluster=None, node=None) -> Selection:
        """Show class ``cls`` (name, case-insensitive, or index) at ``layer``, then ``cluster``.

        Arguments left as None keep the current class / layer; ``node`` None picks the
        default node whenever class or layer change. ``cluster``: None (the whole class) or a
        cluster id ``0..C−1`` of the tree at the current cut. Unknown class → ``KeyError``
        listing the names. Returns the new :attr:`selection`.
        """
        cur = self.selection
        c = self.dataset.class_index(cls) if cls is not None else self.dataset.class_index(cur.cls)
        lay = layer_key(self.chain, layer) if layer is not None else cur.layer
        if node is not None:
            width = self.chain.layer_width(lay)
            if isinstance(node, (bool, np.bool_)) or not isinstance(node, (int, np.integer)) or not 0 <= int(node) < width:
                raise ValueError(f"node must be an int in 0..{width - 1} for layer {layer_label(lay)}, got {node!r}")
        elif cls is None and layer is None or (c == self._view.cls and lay == self._view.layer):
            node = self._view.node
        if cluster is not None and cluster != "brush" and (isinstance(cluster, (bool, np.bool_))
                                                           or not isinstance(cluster, (int, np.integer))):
            raise TypeError(f"cluster must be None or an int cluster id, got {type(cluster).__name__}")
        if cluster == "brush" and (self._brush_positions is None or node is not None and node != self._view.node
                                   or cls is not None or layer is not None):
            raise ValueError("cluster='brush' re-selects the points brushed in the embedding of the current view; "
                             "brush some points first (or pass an int cluster id)")
        with self.busy.running("computing SLTs…"), single_blas():
            view = self._class_view(c, lay, node)
            if view is not self._view:
                self._show_view(view)
            if cluster is not None and cluster != "brush":
                k = int(cluster)
                if not 0 <= k < self.tree.n_clusters:
                    raise ValueError(f"cluster must be in 0..{self.tree.n_clusters - 1} at cut "
                                     f"{self.tree.cut:.3g}, got {k}")
                self._set_quiet(self.tree, "selected", k)
            self._commit(cluster)
        return self.selection

    def play_exemplars(self, k: int = 5) -> np.ndarray:
        """Build an ``ipywidgets.Audio`` of the ``k`` (3–5) selected samples nearest the mean SLT.

        Needs ``dataset.has_audio``. Returns their dataset indices ``[k]`` (also
        ``last_exemplars``); the player is placed in ``audio_box``.
        """
        if not getattr(self.dataset, "has_audio", False):
            raise ValueError("this dataset carries no audio; build the speech corpus with keep_audio=True")
        if not 3 <= k <= 5:
            raise ValueError(f"play 3 to 5 exemplars, got k={k}")
        pos = self._positions()
        near = pos[nearest_to_centroid(self._view.slts[pos], k)]
        idx = self._view.index[near]
        waves, rate = [], None
        for i in idx:
            w, r = self.dataset.audio(int(i))
            if rate is not None and r != rate:
                raise ValueError(f"samples have different audio rates ({rate} vs {r})")
            waves.append(w)
            rate = r
        player = W.Audio(value=wav_bytes(waves, rate), format="wav", autoplay=False, loop=False)
        player.add_class("slt-audio-player")
        info = W.HTML(f"<small>{len(idx)} samples nearest the centroid: {', '.join(map(str, idx))}</small>")
        self.audio_box.children = [player, info]
        self.last_exemplars = idx
        return idx

    @literal_text
    def to_png(self, path, dpi: int = 110) -> str:
        """Compose every view's static render into one PNG at ``path`` (matplotlib, no browser)."""
        import io
        from pathlib import Path
        import matplotlib.image as mpimg
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ValueError(f"to_png writes PNG files; give a path ending in .png, got {path.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        imgs = {"tree": self.tree.to_png(None, dpi=dpi), "templates": self.templates.to_png(None, dpi=dpi),
                "embedding": self.embedding.to_bytes(dpi), "spectra": self.spectra.to_bytes(dpi)}
        fig = Figure(figsize=(14, 10), dpi=dpi)
        FigureCanvasAgg(fig)
        s = self.selection
        fig.suptitle(f"class {s.cls} · {s.layer_name} node {s.node} · {self._cluster_text(s)} · n = {s.n}",
                     fontsize=13)
        for i, key in enumerate(("tree", "templates", "embedding", "spectra")):
            ax = fig.add_subplot(2, 2, i + 1)
            ax.imshow(mpimg.imread(io.BytesIO(imgs[key]), format="png"))
            ax.set_axis_off()
        fig.tight_layout()
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png")
        return str(path)

    # ================================================================== computation
    def _class_samples(self, c: int) -> tuple[np.ndarray, str]:
        if c not in self._samples:
            self._samples[c] = class_samples(self.model, self.dataset, c, self.max_samples, self.seed,
                                             self.correct_only)
        return self._samples[c]

    def _class_view(self, c: int, layer, node) -> ClassView:
        """The memoised :class:`ClassView`; the SLTs always go through the cache (hits counted)."""
        idx, note = self._class_samples(c)
        if node is None:
            node = default_node(self.model, self.dataset.features_at(idx), layer, c)
        key = (c, layer, int(node))
        lmap = self.cache.get(idx, layer=layer, nodes=[int(node)])
        memo = self._views.get(key)
        if memo is not None and memo.source is lmap:
            self._views.move_to_end(key)
            return memo
        slts = lmap.weight[:, 0, :].detach().cpu().numpy()
        view = build_class_view(c, layer, node, idx, self.dataset.features_at(idx), slts, note, source=lmap)
        self._views[key] = view
        while len(self._views) > _MEMO_SIZE:
            self._views.popitem(last=False)
        return view

    def _reference(self, layer, node) -> tuple[np.ndarray, np.ndarray, int]:
        """All-classes reference for a node: ``(sigmas [D], mean SLT [F], n)`` over a seeded
        subset of up to ``max_samples`` samples of the whole dataset."""
        key = (layer, int(node))
        if key not in self._refs:
            n = len(self.dataset)
            idx = np.arange(n) if n <= self.max_samples else np.sort(
                np.random.default_rng(self.seed).choice(n, self.max_samples, replace=False))
            width = self.chain.layer_width(layer)
            if layer == "output" and width <= 64:
                # every class has its own output node: compute all of them once (one splice, one pass)
                w = self.cache.get(idx, layer=layer).weight[:, int(node), :].detach().cpu().double().numpy()
            else:
                w = self.cache.get(idx, layer=layer, nodes=[int(node)]).weight[:, 0, :].detach().cpu().double().numpy()
            self._refs[key] = (np.linalg.svd(w, compute_uv=False), w.mean(0), len(idx))
            while len(self._refs) > _MEMO_SIZE:
                self._refs.popitem(last=False)
        return self._refs[key]

    def _embedding_of(self, view: ClassView) -> np.ndarray:
        space, method = self.space_picker.value, self.method_picker.value
        key = (view.cls, view.layer, view.node, space, method)
        if key not in self._embeds:
            src = view.slts if space == "slt" else self._lda_projection(view)
            self._embeds[key] = embed_points(src, method, self.seed)
            while len(self._embeds) > _MEMO_SIZE:
                self._embeds.popitem(last=False)
        return self._embeds[key]

    def _lda_projection(self, view: ClassView) -> np.ndarray:
        """Activations of ``view.layer`` for the view's samples, projected by a per-layer LDA
        (fitted once on a stratified seeded subset of the dataset)."""
        from ..analysis import collect_activations, fit_lda
        lay = view.layer
        if lay not in self._lda:
            n = len(self.dataset)
            idx = np.arange(n) if n <= self.lda_samples else np.sort(
                np.random.default_rng(self.seed).choice(n, self.lda_samples, replace=False))
            acts = collect_activations(self.model, self.dataset, [lay], idx)[lay]
            self._lda[lay] = fit_lda(acts, self.dataset.labels[idx])
        acts = collect_activations(self.model, self.dataset, [lay], view.index)[lay]
        return self._lda[lay].transform(acts)

    # ================================================================== view updates
    def _set_quiet(self, widget, name, value) -> None:
        self._muted = True
        try:
            setattr(widget, name, value)
        finally:
            self._muted = False

    def _show_view(self, view: ClassView) -> None:
        """Load a new class view into the pickers, tree and embedding (no selection yet)."""
        self._view = view
        self._brush_positions = None
        names = self.dataset.class_names
        if view.layer == "output":
            opts = [(f"{k}: {names[k]}", k) for k in range(self.chain.layer_width("output"))]
        else:
            opts = [(f"node {k}", k) for k in range(self.chain.layer_width(view.layer))]
        Z = view.linkage
        top = float(Z[:, 2].max())
        self._muted = True
        try:
            self.class_picker.value = names[view.cls]
            self.layer_picker.value = view.layer
            if list(self.node_picker.options) != opts:
                self.node_picker.options = opts
            self.node_picker.value = view.node
            with self.tree.hold_sync():               # one message per widget: fewer browser redraws
                self.tree.leaf_names = None          # names are validated against the old linkage
                cut = min(default_cut(Z, self.n_clusters), top)
                self.tree.max_leaves = leaves_for_cut(Z, cut)   # every drawn leaf inside one cluster
                self.tree.linkage = Z
                self.tree.leaf_names = [str(i) for i in view.index]
                self.tree.cut = cut
                self.tree.selected = -1
                self.tree.title = f"UPGMA of SLTs · {names[view.cls]} · {layer_label(view.layer)} node {view.node}"
            with self.cut_slider.hold_sync():
                self.cut_slider.max = max(top, 1e-12)
                self.cut_slider.step = max(top, 1e-12) / 500
                self.cut_slider.value = self.tree.cut
            xy = self._embedding_of(view)
            self.embedding.set_points(xy, self.tree.labels.astype(np.int64), self._cluster_names(),
                                      title=f"{self.method_picker.label} of "
                                            f"{'SLTs' if self.space_picker.value == 'slt' else 'LDA activations'}"
                                            f" · {names[view.cls]} (n = {view.n})")
        finally:
            self._muted = False

    def _cluster_names(self) -> list[str]:
        return [f"cluster {i}" for i in range(self.tree.n_clusters)]

    def _positions(self) -> np.ndarray:
        """Positions (rows of the class view) of the current selection."""
        s = self.selection
        if s is None or s.cluster is None:
            return np.arange(self._view.n)
        if s.cluster == "brush":
            return self._brush_positions
        return np.flatnonzero(self.tree.labels == s.cluster)

    def _commit(self, cluster) -> None:
        """Set the :class:`Selection` for ``cluster`` of the current view (the observer redraws)."""
        v = self._view
        if cluster is None:
            pos = np.arange(v.n)
        elif cluster == "brush":
            pos = self._brush_positions
        else:
            cluster = int(cluster)
            pos = np.flatnonzero(self.tree.labels == cluster)
        idx = v.index[pos]
        idx.setflags(write=False)
        sel = Selection(cls=self.dataset.class_names[v.cls], layer=v.layer, node=v.node, cluster=cluster,
                        indices=idx, n=len(idx), cut=float(self.tree.cut))
        self.set_trait("selection", sel)

    @staticmethod
    def _cluster_text(s: Selection) -> str:
        if s.cluster is None:
            return "whole class"
        return "brushed points" if s.cluster == "brush" else f"cluster {s.cluster}"

    def _render(self, change) -> None:
        """Redraw templates, spectra, embedding highlight and status from ``selection``."""
        s, v = change["new"], self._view
        pos = self._positions()
        ref_sig, ref_mean, ref_n = self._reference(v.layer, v.node)
        feats = v.features[pos].mean(0)
        slt_mean = v.slts[pos].mean(0)
        if s.cluster is None:
            diff, diff_title = slt_mean - ref_mean, "SLT − all classes"
        else:
            diff, diff_title = slt_mean - v.slts.mean(0), "SLT − whole class"
        imgs = np.stack([feats, slt_mean, diff]).astype(np.float32).reshape((3,) + self._shape)
        head = f"{s.cls} · {s.layer_name} node {s.node} · {self._cluster_text(s)}"
        self.templates.set_panels(imgs, titles=["mean features", "mean SLT", diff_title],
                                  kinds=["features", "slt", "diff"], title=head, count=s.n)
        spectra = {f"all classes (n={ref_n})": ref_sig, f"class {s.cls} (n={v.n})": v.sigmas}
        keys = list(spectra)
        highlight = keys[1]
        if s.cluster is not None:
            name = f"{self._cluster_text(s)} (n={s.n})"
            spectra[name] = np.linalg.svd(v.slts[pos].astype(np.float64), compute_uv=False)
            highlight = name
        color = {keys[1]: "#1f77b4"}
        self.spectra.set_spectra(spectra, highlight=highlight, reference=keys[0], colors=color,
                                 title=f"SLT spectra · {s.layer_name} node {s.node}")
        if s.cluster == "brush":
            pass                                            # the brush already marks its points
        else:
            self.embedding.highlight(None if s.cluster is None else pos)
        self.status.value = (f"<small>{text(v.note)}. Showing {text(self._cluster_text(s))}: <b>{s.n}</b> {self._unit}; "
                             f"{self.tree.n_clusters} clusters at cut {s.cut:.3g}.</small>")

    # ================================================================== callbacks
    def _revert_pickers(self) -> None:
        if self._view is not None:
            self._muted = True
            try:
                self.class_picker.value = self.dataset.class_names[self._view.cls]
                self.layer_picker.value = self._view.layer
                self.node_picker.value = self._view.node
            finally:
                self._muted = False

    @guarded
    def _on_class(self, change):
        if self._muted:
            return
        try:
            self.select(cls=change["new"])
        except Exception:
            self._revert_pickers()
            raise

    @guarded
    def _on_layer(self, change):
        if self._muted:
            return
        try:
            self.select(layer=change["new"])
        except Exception:
            self._revert_pickers()
            raise

    @guarded
    def _on_node(self, change):
        if self._muted or change["new"] is None:
            return
        try:
            self.select(node=int(change["new"]))
        except Exception:
            self._revert_pickers()
            raise

    @guarded
    def _on_embedding_option(self, change):
        if self._muted:
            return
        with self.busy.running("embedding…"), single_blas():
            v = self._view
            self.embedding.set_points(self._embedding_of(v), self.tree.labels.astype(np.int64), self._cluster_names())
            self._commit(None if self.selection.cluster == "brush" else self.selection.cluster)

    @guarded
    def _on_slider(self, change):
        if self._muted:
            return
        self.tree.cut = float(min(change["new"], self.tree.root_height))

    @guarded
    def _on_tree_cut(self, change):
        if self._muted:
            return
        self._set_quiet(self.cut_slider, "value", float(change["new"]))
        with self.busy.running("cutting…"), single_blas():
            self.embedding.set_colors(self.tree.labels.astype(np.int64), self._cluster_names())
            self._commit(None)

    @guarded
    def _on_tree_selected(self, change):
        if self._muted:
            return
        k = int(change["new"])
        with self.busy.running("updating…"), single_blas():
            self._commit(None if k < 0 else k)

    @guarded
    def _on_brush(self, change):
        if self._muted:
            return
        pos = change["new"]
        with self.busy.running("updating…"), single_blas():
            if pos is None or len(pos) == 0:
                self._brush_positions = None
                self._commit(None)
                return
            self._brush_positions = np.asarray(pos, dtype=np.int64)
            self._set_quiet(self.tree, "selected", -1)
            self._commit("brush")

    @guarded
    def _on_play(self, _button):
        with self.busy.running("building audio…"), single_blas():
            self.play_exemplars()
