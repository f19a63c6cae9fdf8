"""`Explorer`: one class's SLTs, clustered, embedded and drawn as templates, all views linked.

The state and the numbers live in a headless :class:`~slt_widgets.widgets.explorer_model.ExplorerModel`
(``explorer.state``). This module is only the view layer: a user action (dropdown, tree click,
key press, legend entry, cut drag, brush) becomes one :meth:`ExplorerModel.select` request; the
model computes the whole new state or raises; one observer then redraws every view from it. A
failed request shows its error under the widget and redraws the views from the unchanged state,
so pickers, tree, templates, embedding and spectra never disagree.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import traitlets as T

from .._files import atomic_open
from ._busy import BusyIndicator, ErrorArea, guarded, single_blas
from ._class_view import layer_label, wav_bytes
from .aria_label import aria_label
from .cluster_tree import ClusterTree
from .embedding_view import EmbeddingView
from ._static import StaticPNG, literal_text
from .explorer_model import EMBEDDINGS, SPACES, ExplorerModel, Selection, reject_unknown
from .spectrum_view import SpectrumView
from .template_panel import TemplatePanel

__all__ = ["Explorer", "Selection", "ExplorerModel"]

_WRAP = W.Layout(display="flex", flex_flow="row wrap", align_items="flex-start", width="100%")


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
    correct_only : use only samples the network classifies correctly (the paper's choice).
    n_clusters : None (default: the prototype cut below) or 1..12 — the default cut of each new
        tree is then the coarsest with that many clusters of ≥ 2 % of the samples.
    layout : an ``ipywidgets.Layout`` for the outer box (the only widget keyword taken).

    A dataset joined by :func:`slt_widgets.datasets.with_source` (``meta["source_code"]``) shows
    the user's frames next to the corpus's: every user frame of the class is kept (misclassified
    ones too, whatever ``correct_only``; only the corpus is filtered and subsampled), the
    embedding draws them in their own colour with a legend entry "you (n=…)", the status and the
    template heading split the count ("412 frames (27 yours)"), and ``select(source="you")`` (or
    the ``source_picker`` dropdown) selects only the user's frames of the class or cluster.

    The tree is UPGMA (Euclidean) of the unit-normalised SLTs, cut by default so that 2–12
    prototype clusters, each ≥ 2 % of the samples, are drawn in colour and the rest form one grey
    "other" group (:func:`~slt_widgets.analysis.prototype_cut`, which says why).

    Python API: :meth:`select`, :attr:`selection`, :attr:`clusters`, :attr:`state` (the headless
    :class:`ExplorerModel`), :attr:`cache`, :meth:`to_png`, :meth:`play_exemplars`,
    :meth:`accessible_name` (what ``aria``, its :class:`AriaLabel`, names the box). Views:
    ``class_picker``, ``layer_picker``, ``node_picker``, ``cut_slider``, ``tree``
    (:class:`ClusterTree`), ``templates`` (:class:`TemplatePanel`, ``[3, H, W]``: mean features,
    mean SLT, SLT difference to the reference), ``embedding`` (:class:`EmbeddingView`),
    ``spectra`` (:class:`SpectrumView`), ``status``, ``busy``, ``error_area``.
    """

    selection = T.Instance(Selection, allow_none=True, read_only=True)

    def __init__(self, model, dataset, layer="output", cls=None, max_samples: int = 2000,
                 memory_budget="1GB", *, node: int | None = None, embedding: str = "mds",
                 embed_space: str = "slt", correct_only: bool = True, seed: int = 0,
                 lda_samples: int = 20000, n_clusters: int | None = None, **kw):
        reject_unknown("Explorer", kw, ("layout",), ("model", "dataset", "layer", "cls", "max_samples", "memory_budget",
                                                      "node", "embedding", "embed_space", "correct_only", "seed",
                                                      "lda_samples", "n_clusters"))
        super().__init__(**kw)
        self.add_class("slt-explorer")
        self.busy = BusyIndicator()
        with self.busy.running("computing SLTs…"), single_blas():
            self.state = ExplorerModel(model, dataset, layer, cls, max_samples, memory_budget, node=node,
                                       embedding=embedding, embed_space=embed_space, correct_only=correct_only,
                                       seed=seed, lda_samples=lda_samples, n_clusters=n_clusters)
        st = self.state
        self.model, self.dataset, self.chain, self.cache = model, dataset, st.chain, st.cache
        self.last_exemplars: np.ndarray | None = None
        self._unit = st.unit
        self._drawn: dict = {}          # what each view shows now (skip redraws that change nothing)

        # ---- controls
        L = self.chain.n_hidden
        small = {"description_width": "44px"}
        self.class_picker = W.Dropdown(options=list(dataset.class_names), description="class",
                                       layout=W.Layout(width="170px"), style=small)
        self.class_picker.add_class("slt-class-picker")
        self.layer_picker = W.Dropdown(options=[(layer_label(k), k) for k in [*range(1, L + 1), "output"]],
                                       description="layer", layout=W.Layout(width="150px"), style=small)
        self.layer_picker.add_class("slt-layer-picker")
        self.node_picker = W.Dropdown(options=[("0", 0)], description="node", layout=W.Layout(width="200px"),
                                      style=small)
        self.node_picker.add_class("slt-node-picker")
        self.space_picker = W.Dropdown(options=[(v, k) for k, v in SPACES.items()], value=st.embed_space,
                                       description="embed", layout=W.Layout(width="220px"),
                                       style={"description_width": "54px"})
        self.space_picker.add_class("slt-space-picker")
        self.method_picker = W.Dropdown(options=[(v, k) for k, v in EMBEDDINGS.items()], value=st.embedding,
                                        layout=W.Layout(width="90px"))
        self.method_picker.add_class("slt-method-picker")
        self.cut_slider = W.FloatSlider(description="cut", min=0.0, max=1.0, step=0.001, continuous_update=False,
                                        readout_format=".3g", layout=W.Layout(width="320px"), style=small)
        self.cut_slider.add_class("slt-cut-slider")
        srcs = ("all",) + (st.source_names or ())
        self.source_picker = W.Dropdown(options=list(srcs), value="all", description="frames",
                                        layout=W.Layout(width="170px", display=None if st.source_names else "none"),
                                        style={"description_width": "50px"})
        self.source_picker.add_class("slt-source-picker")
        self.status = W.HTML(layout=W.Layout(flex="1 1 300px", min_width="0"))
        self.status.add_class("slt-status")
        self.error_area = ErrorArea()
        self.tree = ClusterTree(st.view.linkage, cut=st.cut, n_drawn=st.frame.n_drawn,
                                max_leaves=max(2, st.n_clusters), title=st.frame.titles["tree"], unit=self._unit,
                                height=330, width=420)
        self.tree.add_class("slt-explorer-tree")
        shape = st.image_shape
        speech = self._unit == "frames"
        tp_kw = {} if speech else {"x_label": "column", "y_label": "row", "pixel_size": max(2, min(16, 128 // max(shape))),
                                   "x_ticks": [float(i) for i in range(shape[1])]}
        self.templates = TemplatePanel(np.zeros((3,) + shape, np.float32), titles=["", "", ""],
                                       kinds=["features", "slt", "diff"], count_unit=self._unit, columns=0, **tp_kw)
        self.templates.add_class("slt-explorer-templates")   # columns=0: the panels wrap in a narrow notebook
        self.embedding = EmbeddingView("Embedding", width="440px", height="360px")
        self.spectra = SpectrumView("SLT spectra", width="440px", height="300px")
        self.audio_box = W.HBox(layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.audio_box.add_class("slt-audio")
        self.play_button = W.Button(description="▶ play exemplars", layout=W.Layout(width="150px"),
                                    tooltip="play the 5 samples nearest the selection's mean SLT")
        self.play_button.add_class("slt-play")
        self.play_button.layout.display = None if getattr(dataset, "has_audio", False) else "none"

        # the (hidden) busy note takes the rest of the pickers' line, down to 0 px: it never wraps
        # onto a line of its own, which would leave an empty band under the pickers
        self.busy.layout.flex, self.busy.layout.min_width, self.busy.layout.overflow = "1 1 0", "0", "hidden"
        views = W.Box([self.tree, self.templates, self.embedding, self.spectra], layout=_WRAP)
        views.add_class("slt-explorer-views")
        self.children = [
            W.HBox([self.class_picker, self.layer_picker, self.node_picker, self.source_picker, self.busy],
                   layout=W.Layout(flex_flow="row wrap", align_items="center")),
            W.HBox([self.cut_slider, self.status], layout=W.Layout(flex_flow="row wrap", align_items="center",
                                                                   width="100%")),
            views,
            W.HBox([self.space_picker, self.method_picker, self.play_button, self.audio_box],
                   layout=W.Layout(flex_flow="row wrap", align_items="center")),
            self.error_area,
        ]
        self.aria = aria_label(self, "SLT explorer", "region")     # named from the selection by _render
        st.observe(self._on_state, "selection")
        self.class_picker.observe(self._on_class, "value")
        self.layer_picker.observe(self._on_layer, "value")
        self.node_picker.observe(self._on_node, "value")
        self.space_picker.observe(self._on_embedding_option, "value")
        self.method_picker.observe(self._on_embedding_option, "value")
        self.source_picker.observe(self._on_source, "value")
        self.cut_slider.observe(self._on_slider, "value")
        self.tree.observe(self._on_tree_cut, "cut")
        self.tree.observe(self._on_tree_selected, "selected")
        self.tree.observe(self._on_tree_reset, "reset_clicks")
        self.embedding.observe(self._on_brush, "selected")
        self.play_button.on_click(self._on_play)
        self._muted = False
        with self.busy.running("drawing…"), single_blas():
            self._render()

    # ================================================================== Python API
    @property
    def clusters(self) -> list[tuple[int, int]]:
        """The clusters drawn in colour at the current cut: ``[(cluster_id, n), …]``, largest first."""
        return self.state.clusters

    def select(self, cls=None, layer=None, cluster=None, node=None, **options) -> Selection:
        """Show class ``cls`` at ``layer`` / ``node``, then ``cluster``; see :meth:`ExplorerModel.select`
        (also ``cut=``, ``brush=``, ``embedding=``, ``embed_space=``, ``source=``). Atomic: an error raises
        and leaves the selection and every view as they were. Returns the new :attr:`selection`."""
        with self.busy.running("computing SLTs…"), single_blas():
            return self.state.select(cls=cls, layer=layer, cluster=cluster, node=node, **options)

    def play_exemplars(self, k: int = 5, autoplay: bool = False) -> np.ndarray:
        """Build an ``ipywidgets.Audio`` of the ``k`` (3–5) selected samples nearest the mean SLT.

        Needs ``dataset.has_audio``. Returns their dataset indices ``[k]`` (also
        ``last_exemplars``); the player (playing at once when ``autoplay``) and a caption naming
        each frame's utterance text and time are placed in ``audio_box``.
        """
        if not getattr(self.dataset, "has_audio", False):
            raise ValueError("this dataset carries no audio; build the speech corpus with keep_audio=True")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 3 <= k <= 5:
            raise ValueError(f"play 3 to 5 exemplars, got k={k!r}")
        idx = self.state.exemplars(int(k))
        waves, rate = [], None
        for i in idx:
            w, r = self.dataset.audio(int(i))
            if rate is not None and r != rate:
                raise ValueError(f"samples have different audio rates ({rate} vs {r})")
            waves.append(w)
            rate = r
        player = W.Audio(value=wav_bytes(waves, rate), format="wav", autoplay=bool(autoplay), loop=False)
        player.add_class("slt-audio-player")
        s = self.state.selection
        where = "; ".join(html.escape(self.state.describe_sample(int(i))) for i in idx)
        info = W.HTML(f"<small>{len(idx)} {self._unit} of {html.escape(s.cls)} ({html.escape(s.cluster_text)}) nearest "
                      f"its mean SLT: {where}</small>", layout=W.Layout(flex="1 1 300px", min_width="0"))
        info.add_class("slt-audio-caption")
        self.audio_box.children = [player, info]
        self.last_exemplars = idx
        self._audio_for = s
        return idx

    def accessible_name(self) -> str:
        """The Explorer's name for assistive technology, from the selection:
        ``"SLT explorer: T · output node 30 · cluster 1 — 412 frames"``."""
        s = self.state.selection
        return (f"SLT explorer: {s.cls} · {s.layer_name} node {s.node} · {s.cluster_text}{s.source_text} — "
                f"{self.state.count_text()}")

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
        fig.suptitle(f"class {s.cls} · {s.layer_name} node {s.node} · {s.cluster_text} · n = {s.n}",
                     fontsize=13)
        for i, key in enumerate(("tree", "templates", "embedding", "spectra")):
            ax = fig.add_subplot(2, 2, i + 1)
            ax.imshow(mpimg.imread(io.BytesIO(imgs[key]), format="png"))
            ax.set_axis_off()
        fig.tight_layout()
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png")
        return str(path)

    # ================================================================== rendering
    def _on_state(self, change) -> None:
        self._render()

    def _render(self) -> None:
        """Draw every view from ``state`` (the one place views are written)."""
        st = self.state
        f, s = st.frame, st.selection
        v = f.view
        names = self.dataset.class_names
        self._muted = True
        try:
            # pickers
            if v.layer == "output":
                opts = [(f"{k}: {names[k]}", k) for k in range(self.chain.layer_width("output"))]
            else:
                opts = [(f"node {k}", k) for k in range(self.chain.layer_width(v.layer))]
            self.class_picker.value = names[v.cls]
            self.layer_picker.value = v.layer
            if list(self.node_picker.options) != opts:
                self.node_picker.options = opts
            self.node_picker.value = v.node
            self.method_picker.value = st.embedding
            self.space_picker.value = st.embed_space
            self.source_picker.value = s.source
            # tree and cut slider
            new_tree = self._drawn.get("linkage") is not v.linkage
            with self.tree.hold_sync():
                if new_tree:
                    self.tree.leaf_names = None
                    self.tree.max_leaves = max(2, st.n_clusters)
                    self.tree.linkage = v.linkage
                elif self._drawn.get("cut") != s.cut:
                    self.tree.max_leaves = max(2, st.n_clusters)   # back to one leaf per cluster
                self.tree.cut = s.cut
                self.tree.n_drawn = f.n_drawn
                self.tree.selected = s.cluster if isinstance(s.cluster, int) else -1
                self.tree.title = f.titles["tree"]
                self.tree.error = ""
            top = max(st.root_height, 1e-12)
            with self.cut_slider.hold_sync():
                if self.cut_slider.max != top:
                    self.cut_slider.max = top
                    self.cut_slider.step = top / 500
                self.cut_slider.value = s.cut
            # embedding: points, colours (drawn clusters; "other" grey), brush and highlight
            colors = np.minimum(f.labels, f.n_drawn)
            cnames = [f"cluster {k}" for k in range(f.n_drawn)] + (["other"] if colors.max() >= f.n_drawn else [])
            mark = {"marked": f.user, "marked_name": st.source_names[1] if st.source_names else "you"}
            if self._drawn.get("xy") is not f.xy:
                self.embedding.set_points(f.xy, colors, cnames, title=f.titles["embedding"], grey_from=f.n_drawn,
                                          **mark)
            elif self._drawn.get("colors_key") != (id(v.linkage), s.cut):
                self.embedding.set_colors(colors, cnames, grey_from=f.n_drawn, **mark)
            if s.cluster == "brush":
                pass                                            # the brush already marks its points
            else:
                if self._drawn.get("cluster") == "brush" or s.cluster is None:
                    self.embedding.clear_brush()
                self.embedding.highlight(None if s.cluster is None and s.source == "all" else f.positions)
            self.embedding.title = f.titles["embedding"]
            # templates
            head = f"{s.cls} · {s.layer_name} node {s.node} · {s.cluster_text}{s.source_text}"
            count = s.n
            if s.n_yours is not None:          # the panel's "— n frames" cannot split the count: say it here
                head, count = f"{head} — {st.count_text()}", None
            self.templates.set_panels(f.images.reshape((3,) + st.image_shape), titles=list(f.image_titles),
                                      kinds=["features", "slt", "diff"], title=head, count=count)
            # spectra
            keys = list(f.spectra)
            self.spectra.set_spectra(f.spectra, highlight=f.highlight, reference=f.reference,
                                     colors={keys[1]: "#1f77b4"}, title=f.titles["spectra"])
            # status and audio (exemplars belong to one selection)
            self.status.value = f"<div style='font-size:12px;line-height:1.35'>{html.escape(st.status_text())}</div>"
            self.aria.label = self.accessible_name()
            if self.audio_box.children and getattr(self, "_audio_for", None) != s:
                self.audio_box.children = []
            self._drawn = {"linkage": v.linkage, "cut": s.cut, "xy": f.xy, "colors_key": (id(v.linkage), s.cut),
                           "cluster": s.cluster}
            self.set_trait("selection", s)
        finally:
            self._muted = False

    def _request(self, **kw) -> None:
        """One user request: the new state, or the error shown and every view redrawn as it was."""
        try:
            with self.busy.running("computing…"), single_blas():
                self.state.select(**kw)
        except Exception:
            self._render()
            raise

    # ================================================================== callbacks
    def _keep_cluster(self):
        c = self.state.cluster
        return c if isinstance(c, int) else None

    @guarded
    def _on_class(self, change):
        if not self._muted:
            self._request(cls=change["new"])

    @guarded
    def _on_layer(self, change):
        if not self._muted:
            self._request(layer=change["new"])

    @guarded
    def _on_node(self, change):
        if not self._muted and change["new"] is not None:
            self._request(node=int(change["new"]))

    @guarded
    def _on_embedding_option(self, change):
        if self._muted:
            return
        st = self.state
        brush = st.brush if st.cluster == "brush" else None
        self._request(cluster=None if brush is not None else self._keep_cluster(), brush=brush,
                      embedding=self.method_picker.value, embed_space=self.space_picker.value)

    @guarded
    def _on_source(self, change):
        if self._muted:
            return
        st = self.state
        brush = st.brush if st.cluster == "brush" else None
        self._request(cluster=None if brush is not None else self._keep_cluster(), brush=brush,
                      source=change["new"])

    @guarded
    def _on_slider(self, change):
        if not self._muted:
            self._request(cut=float(min(change["new"], self.state.root_height)))

    @guarded
    def _on_tree_cut(self, change):
        if not self._muted:
            self._request(cut=float(change["new"]))

    @guarded
    def _on_tree_selected(self, change):
        if self._muted or self.tree.cut != self.state.cut:   # a cut drag resets `selected`: the cut request follows
            return
        k = int(change["new"])
        self._request(cluster=None if k < 0 else k)

    @guarded
    def _on_tree_reset(self, change):
        if not self._muted and self.state.cluster is not None:
            self._request(cluster=None)

    @guarded
    def _on_brush(self, change):
        if self._muted:
            return
        pos = change["new"]
        if pos is None or len(pos) == 0:
            self._request(cluster=None)
        else:
            self._request(brush=np.asarray(pos, dtype=np.int64))

    @guarded
    def _on_play(self, _button):
        with self.busy.running("building audio…"), single_blas():
            self.play_exemplars(autoplay=True)
