"""`ExplorerModel`: the Explorer's state and numbers, headless (traits, no views).

The whole state lives in read-only traits — ``cls``, ``layer``, ``node``, ``cut``, ``cluster``,
``brush``, ``embedding``, ``embed_space`` — and :attr:`ExplorerModel.selection` summarises it.
Every change goes through :meth:`ExplorerModel.select`, which computes the new state in full
(SLTs through the cache, tree, cut, embedding, templates, spectra) *before* it touches a trait:
a request that fails raises and leaves every trait, and so every view drawn from them, as it
was. Views (the :class:`~slt_widgets.Explorer`, a ``Compare`` of two models) only render the
results (:attr:`frame`) and send requests.
"""
from __future__ import annotations

import difflib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import traitlets as T

from ..analysis.clustering import cut_labels, prototype_cut
from ..engine import SLTCache
from ._class_view import (ClassView, build_class_view, class_samples, default_node, embed_points, layer_key, layer_label,
                          layer_shapes, nearest_to_centroid)
from ._sources import check_source, source_of, yours_text

__all__ = ["ExplorerModel", "Selection", "Frame", "reject_unknown"]

_MEMO_SIZE = 24
EMBEDDINGS = {"mds": "MDS", "tsne": "t-SNE"}
SPACES = {"slt": "SLTs", "lda": "LDA activations"}


def reject_unknown(owner: str, kwargs: dict, allowed, named=()) -> None:
    """Raise ``TypeError`` naming every key of ``kwargs`` not in ``allowed``, with a did-you-mean
    drawn from ``allowed`` and the caller's ``named`` parameters."""
    bad = [k for k in kwargs if k not in allowed]
    if bad:
        every = sorted(set(allowed) | set(named))
        hints = ", ".join(f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, every, 1))
                                      else "") for k in bad)
        raise TypeError(f"{owner} got unknown keyword argument(s) {hints}; it takes {', '.join(every)}")


@dataclass(frozen=True)
class Selection:
    """What the Explorer shows (read-only).

    cls: class name; layer: ``1..L`` or ``"output"``; node: the node whose SLT is shown;
    cluster: ``None`` (the whole class), an ``int`` cluster id of the tree at ``cut``, or
    ``"brush"`` (points picked in the embedding); indices: ``[n]`` dataset indices of the
    selected samples (read-only array); n: their number; cut: the tree's cut height;
    source: ``"all"`` or one source name (only that source's samples selected, see
    :meth:`ExplorerModel.select`); n_yours: how many of the ``n`` are the user's (None when the
    dataset carries no ``meta["source_code"]``).
    """

    cls: str
    layer: int | str
    node: int
    cluster: int | str | None
    indices: np.ndarray = field(repr=False)
    n: int
    cut: float
    source: str = "all"
    n_yours: int | None = None

    @property
    def layer_name(self) -> str:
        return layer_label(self.layer)

    @property
    def cluster_text(self) -> str:
        if self.cluster is None:
            return "whole class"
        return "brushed points" if self.cluster == "brush" else f"cluster {self.cluster}"

    @property
    def source_text(self) -> str:
        """``""``, or ``", only you"`` / ``", only corpus"`` when one source is selected."""
        return "" if self.source == "all" else f", only {self.source}"


@dataclass(frozen=True)
class Frame:
    """Everything the views draw for one state (computed by :meth:`ExplorerModel.select`).

    view: the :class:`ClassView` (samples, features / SLTs ``[n, F]``, linkage ``[n − 1, 4]``);
    labels: ``[n]`` cluster of each sample at the cut (0 = largest); n_drawn: clusters drawn
    in colour (ids ``0..n_drawn − 1``, the rest are the grey "other" group); positions: ``[k]``
    rows of the view that are selected; xy: ``[n, 2]`` embedding; images: ``[3, F]`` mean
    features, mean SLT, difference; image_titles: ``[3]``; spectra: ``{name: σ [D]}`` with
    ``highlight`` / ``reference`` names; titles: ``{"tree", "embedding", "spectra"}``;
    user: None, or ``[n]`` bool — which rows of the view are the user's frames (tagged dataset).
    """

    view: ClassView
    labels: np.ndarray
    n_drawn: int
    positions: np.ndarray
    xy: np.ndarray
    images: np.ndarray
    image_titles: tuple
    spectra: dict
    highlight: str
    reference: str
    titles: dict
    user: np.ndarray | None = None


class ExplorerModel(T.HasTraits):
    """Headless Explorer: one class's SLTs at one node, clustered (UPGMA of unit-normalised
    SLTs, :func:`~slt_widgets.analysis.prototype_linkage`), cut into prototypes
    (:func:`~slt_widgets.analysis.prototype_cut`), embedded, averaged into templates.

    Parameters: see :class:`slt_widgets.Explorer` (model, dataset, layer, cls, max_samples,
    memory_budget, node, embedding, embed_space, correct_only, seed, lda_samples, n_clusters).

    State (read-only traits; change them with :meth:`select`): ``cls`` (name), ``layer``
    (``1..L`` or ``"output"``), ``node``, ``cut``, ``cluster`` (None, int or ``"brush"``),
    ``brush`` (None or int64 ``[k]`` rows of the view), ``embedding`` (``"mds"``/``"tsne"``),
    ``embed_space`` (``"slt"``/``"lda"``), and ``selection`` (:class:`Selection`).
    Results: :attr:`frame` (:class:`Frame`), :attr:`clusters`, :attr:`view`.
    """

    cls = T.Unicode(read_only=True)
    layer = T.Union([T.Int(), T.Unicode()], read_only=True)
    node = T.Int(read_only=True)
    cut = T.Float(read_only=True)
    cluster = T.Any(None, allow_none=True, read_only=True)
    brush = T.Any(None, allow_none=True, read_only=True)
    embedding = T.Unicode("mds", read_only=True)
    embed_space = T.Unicode("slt", read_only=True)
    source = T.Unicode("all", read_only=True)
    selection = T.Instance(Selection, allow_none=True, read_only=True)

    def __init__(self, model, dataset, layer="output", cls=None, max_samples: int = 2000,
                 memory_budget="1GB", *, node: int | None = None, embedding: str = "mds",
                 embed_space: str = "slt", correct_only: bool = True, seed: int = 0,
                 lda_samples: int = 20000, n_clusters: int | None = None):
        super().__init__()
        if n_clusters is not None and (isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer))
                                       or not 1 <= n_clusters <= 12):
            raise ValueError(f"n_clusters must be None (the prototype cut) or an int in 1..12, got {n_clusters!r}")
        self.n_clusters_wanted = None if n_clusters is None else int(n_clusters)
        for attr in ("labels", "class_names", "feature_shape", "features_at"):
            if not hasattr(dataset, attr):
                raise TypeError(f"dataset must be a slt_widgets.FrameDataset (missing .{attr}); wrap arrays "
                                "with FrameDataset.from_arrays(features, labels, class_names, feature_shape)")
        if isinstance(max_samples, bool) or not isinstance(max_samples, (int, np.integer)) or max_samples < 3:
            raise ValueError(f"max_samples must be an int ≥ 3 (clustering needs samples), got {max_samples!r}")
        self._check_choice("embedding", embedding, EMBEDDINGS)
        self._check_choice("embed_space", embed_space, SPACES)
        self.model, self.dataset = model, dataset
        self.user_mask, self.source_names = self._source_of(dataset)
        self.chain = layer_shapes(model, dataset)  # a Chain, or the shapes a conv/residual net shows
        if self.chain.d_in != dataset.n_features:
            raise ValueError(f"the model expects {self.chain.d_in} inputs but the dataset has "
                             f"{dataset.n_features} features per sample; pass the matching dataset")
        self.cache = SLTCache(model, dataset, memory_budget)
        self.max_samples, self.seed, self.correct_only = int(max_samples), int(seed), bool(correct_only)
        self.lda_samples = int(lda_samples)
        self.unit = "frames" if getattr(dataset, "_frames", None) is not None else "samples"
        fs = tuple(dataset.feature_shape)
        self.image_shape = fs if len(fs) == 2 else (1, int(np.prod(fs)))
        self._samples: dict[int, tuple[np.ndarray, str]] = {}
        self._views: OrderedDict = OrderedDict()
        self._embeds: OrderedDict = OrderedDict()
        self._refs: OrderedDict = OrderedDict()
        self._cuts: OrderedDict = OrderedDict()
        self._lda: dict = {}
        self.frame: Frame | None = None
        first = dataset.class_names[0] if cls is None else cls
        self.select(cls=first, layer=layer, node=node, embedding=embedding, embed_space=embed_space)

    # ================================================================== public API
    @property
    def view(self) -> ClassView:
        """The current :class:`ClassView` (samples, features, SLTs, linkage)."""
        return self.frame.view

    @property
    def clusters(self) -> list[tuple[int, int]]:
        """The clusters drawn in colour at the current cut: ``[(cluster_id, n), …]``, largest first."""
        f = self.frame
        sizes = np.bincount(f.labels, minlength=f.n_drawn)
        return [(k, int(sizes[k])) for k in range(f.n_drawn)]

    @property
    def n_clusters(self) -> int:
        """Clusters at the current cut, the grey "other" ones included."""
        return int(self.frame.labels.max()) + 1

    @property
    def root_height(self) -> float:
        return float(self.frame.view.linkage[:, 2].max())

    def default_cut(self) -> float:
        """The prototype cut of the current tree (:func:`~slt_widgets.analysis.prototype_cut`)."""
        return self._prototype_cut(self.frame.view)[0]

    def select(self, cls=None, layer=None, cluster=None, node=None, **options) -> Selection:
        """Change the state in one step and return the new :attr:`selection`.

        cls: class name (case-insensitive) or index; layer: ``1..L``, ``"HLk"`` or
        ``"output"``; node: node of ``layer`` (None: the class's default node whenever class
        or layer change, else the current one); cluster: None (the whole class), a cluster id
        ``0..C−1`` at the cut, or ``"brush"``. Keyword-only options: ``cut`` (a height; default
        the prototype cut of a new tree, else the current cut), ``brush`` (int positions ``[k]``
        of the view's rows; selects them as ``cluster="brush"``), ``embedding`` (``"mds"`` /
        ``"tsne"``), ``embed_space`` (``"slt"`` / ``"lda"``), ``source`` (only for a dataset
        joined by :func:`~slt_widgets.datasets.with_source`: ``"all"``, or one of
        ``meta["source_names"]``, e.g. ``"you"`` — then only that source's samples of the class,
        cluster or brush are selected).

        Arguments left out keep their value, except that a new class, layer, node or cut
        clears the cluster, the brush and the source (back to ``"all"``). Atomic: on any error (``KeyError`` for an unknown
        class or layer, ``ValueError``/``TypeError`` for bad values) nothing changes.
        """
        reject_unknown("select()", options, ("cut", "brush", "embedding", "embed_space", "source"),
                       ("cls", "layer", "cluster", "node"))
        cut, brush = options.get("cut"), options.get("brush")
        emb = options.get("embedding") or self.embedding
        space = options.get("embed_space") or self.embed_space
        self._check_choice("embedding", emb, EMBEDDINGS)
        self._check_choice("embed_space", space, SPACES)
        src_given = options.get("source")
        if src_given is not None:
            self._check_source(src_given)
        cur = self.frame
        c = self.dataset.class_index(cls) if cls is not None else cur.view.cls
        lay = layer_key(self.chain, layer) if layer is not None else cur.view.layer
        if node is not None:
            width = self.chain.layer_width(lay)
            if isinstance(node, bool) or not isinstance(node, (int, np.integer)) or not 0 <= int(node) < width:
                raise ValueError(f"node must be an int in 0..{width - 1} for layer {layer_label(lay)}, got {node!r}")
            node = int(node)
        elif cur is not None and c == cur.view.cls and lay == cur.view.layer:
            node = cur.view.node
        view = self._class_view(c, lay, node)
        same_view = cur is not None and view is cur.view
        # ---- cut and labels
        if cut is not None:
            top = float(view.linkage[:, 2].max())
            if isinstance(cut, bool) or not isinstance(cut, (int, float, np.floating, np.integer)) \
                    or not np.isfinite(cut) or not 0 <= float(cut) <= top:
                raise ValueError(f"cut must be a height between 0 and the root height {top:.4g}, got {cut!r}")
            cut = float(cut)
            n_drawn = self._drawn_at(view, cut)
        elif same_view:
            cut, n_drawn = self.cut, cur.n_drawn
        else:
            cut, n_drawn = self._prototype_cut(view)
        labels = cur.labels if same_view and cut == self.cut else cut_labels(view.linkage, cut)
        keep = same_view and cut == self.cut
        # ---- cluster / brush
        if brush is not None:
            if cluster not in (None, "brush"):
                raise ValueError("give either brush= or an int cluster, not both")
            p = np.unique(np.asarray(brush).ravel())
            if p.size == 0:
                brush, cluster = None, None
            else:
                if not np.issubdtype(p.dtype, np.integer) or p.min() < 0 or p.max() >= view.n:
                    raise ValueError(f"brush must hold row positions 0..{view.n - 1} of the current view")
                brush, cluster = p.astype(np.int64), "brush"
        elif cluster == "brush":
            if not keep or self.brush is None:
                raise ValueError("cluster='brush' re-selects the points brushed in the embedding of the current "
                                 "view; brush some points first (or pass an int cluster id)")
            brush = self.brush
        elif cluster is not None:
            if isinstance(cluster, bool) or not isinstance(cluster, (int, np.integer)):
                raise TypeError(f"cluster must be None or an int cluster id (or 'brush'), got {cluster!r}")
            k_all = int(labels.max()) + 1
            if not 0 <= int(cluster) < k_all:
                raise ValueError(f"cluster must be in 0..{k_all - 1} at cut {cut:.3g}, got {cluster}")
            cluster = int(cluster)
        if cluster is None:
            positions = np.arange(view.n)
        elif cluster == "brush":
            positions = brush
        else:
            positions = np.flatnonzero(labels == cluster)
        src = src_given if src_given is not None else (self.source if keep else "all")
        user_rows = None if self.user_mask is None else self.user_mask[view.index]
        if src != "all":
            positions = positions[user_rows[positions] == (src == self.source_names[1])]
            if positions.size == 0:
                where = "the class" if cluster is None else ("the brushed points" if cluster == "brush"
                                                             else f"cluster {cluster}")
                raise ValueError(f"{where} holds no samples from source {src!r}; pick another cluster "
                                 f"or source='all'")
        # ---- embedding and what the views draw (may raise: nothing set yet)
        xy, used = self._embedding_of(view, emb, space)
        frame = self._frame(view, labels, n_drawn, positions, xy, cluster, emb, space, used, user_rows, src)
        idx = view.index[positions]
        idx.setflags(write=False)
        sel = Selection(cls=self.dataset.class_names[view.cls], layer=view.layer, node=view.node,
                        cluster=cluster, indices=idx, n=len(idx), cut=cut, source=src,
                        n_yours=None if user_rows is None else int(user_rows[positions].sum()))
        # ---- commit: every trait at once
        self.frame = frame
        with self.hold_trait_notifications():
            for name, value in (("cls", sel.cls), ("layer", view.layer), ("node", view.node), ("cut", cut),
                                ("cluster", cluster), ("brush", brush), ("embedding", emb),
                                ("embed_space", space), ("source", src)):
                self.set_trait(name, value)
            self.set_trait("selection", sel)
        return sel

    def exemplars(self, k: int = 5) -> np.ndarray:
        """Dataset indices ``[min(k, n)]`` of the selected samples nearest their mean SLT, nearest first."""
        f = self.frame
        pos = f.positions[nearest_to_centroid(f.view.slts[f.positions], k)]
        return f.view.index[pos]

    def describe_sample(self, i: int) -> str:
        """``'"the text" at 0.42 s'`` for a speech frame, ``'sample 17'`` otherwise."""
        try:
            u = self.dataset.utterance_of(int(i))
        except (ValueError, AttributeError, TypeError):
            return f"sample {int(i)}"
        where = f"“{u['text']}”" if u.get("text") else f"utterance {u['utterance']}"
        return f"{where} at {u['time_s']:.2f} s"

    def count_text(self) -> str:
        """``"412 frames"``, or ``"412 frames (27 yours)"`` for a dataset tagged by source."""
        s = self.selection
        text = f"{s.n} {self.unit}"
        if s.n_yours is not None:
            text += f" ({yours_text(s.n_yours, self.source_names)})"
        return text

    def status_text(self) -> str:
        """The current selection in words (also what a screen reader gets)."""
        s, f = self.selection, self.frame
        other = self.n_clusters - f.n_drawn
        parts = [f"{f.view.note}.", f"Showing {s.cls}, {s.layer_name} node {s.node}, {s.cluster_text}"
                 f"{s.source_text}: {self.count_text()}.",
                 f"{f.n_drawn} cluster{'s' if f.n_drawn != 1 else ''} in colour at cut {s.cut:.3g}"
                 + (f", {other} small one{'s' if other != 1 else ''} in grey." if other else ".")]
        if f.view.layer == 1:
            zero = int((np.abs(f.view.slts).max(1) == 0).sum())
            parts.append(f"At HL1 a node's SLT is its weight row (active: {f.view.n - zero}) or zero "
                         f"(inactive: {zero}), so the tree has at most two groups.")
        return " ".join(parts)

    # ================================================================== computation
    @staticmethod
    def _check_choice(name, value, choices) -> None:
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")

    _source_of = staticmethod(source_of)

    def _check_source(self, value) -> None:
        check_source(value, self.source_names)

    def _class_samples(self, c: int) -> tuple[np.ndarray, str]:
        if c not in self._samples:
            self._samples[c] = class_samples(self.model, self.dataset, c, self.max_samples, self.seed,
                                             self.correct_only, source=self.user_mask)
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
        view = build_class_view(c, layer, node, idx, self.dataset.features_at(idx),
                                lmap.weight[:, 0, :].detach().cpu().numpy(), note, source=lmap)
        self._memo(self._views, key, view)
        return view

    @staticmethod
    def _memo(store: OrderedDict, key, value):
        store[key] = value
        store.move_to_end(key)
        while len(store) > _MEMO_SIZE:
            store.popitem(last=False)
        return value

    def _prototype_cut(self, view: ClassView) -> tuple[float, int]:
        key = id(view.linkage)
        hit = self._cuts.get(key)
        if hit is None or hit[0] is not view.linkage:
            hit = self._memo(self._cuts, key, (view.linkage, prototype_cut(view.linkage,
                                                                          n_clusters=self.n_clusters_wanted)))
        return hit[1]

    @staticmethod
    def _drawn_at(view: ClassView, cut: float, min_share: float = 0.02, max_clusters: int = 12) -> int:
        """Clusters drawn in colour at a user's cut: those with ≥ ``min_share`` (and ≥ 2) samples,
        at most ``max_clusters``; at least one."""
        sizes = np.bincount(cut_labels(view.linkage, cut))
        need = max(2, int(np.ceil(min_share * view.n)))
        return int(max(1, min(max_clusters, (sizes >= need).sum())))

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
            self._memo(self._refs, key, (np.linalg.svd(w, compute_uv=False), w.mean(0), len(idx)))
        return self._refs[key]

    def _embedding_of(self, view: ClassView, method: str, space: str) -> tuple[np.ndarray, str]:
        """``(xy [n, 2], method used)``. t-SNE of fewer than 4 distinct points (an HL1 node whose
        SLT is its weight row for every sample) is undefined — scikit-learn divides by a zero
        variance and can crash the kernel — so those get classical MDS, and the title says so."""
        key = (view.cls, view.layer, view.node, space, method)
        hit = self._embeds.get(key)
        if hit is None or hit[0] is not view:
            src = view.slts if space == "slt" else self._lda_projection(view)
            used = method
            if method == "tsne" and len(np.unique(np.asarray(src, dtype=np.float32), axis=0)) < 4:
                used = "mds"
            hit = self._memo(self._embeds, key, (view, (embed_points(src, used, self.seed), used)))
        return hit[1]

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

    def _frame(self, view, labels, n_drawn, positions, xy, cluster, emb, space, used, user=None,
               src="all") -> Frame:
        names = self.dataset.class_names
        cname = names[view.cls]
        lname = layer_label(view.layer)
        ref_sig, ref_mean, ref_n = self._reference(view.layer, view.node)
        slt_mean = view.slts[positions].mean(0)
        if cluster is None and src == "all":
            diff, diff_title = slt_mean - ref_mean, "SLT − all classes"
        else:
            diff, diff_title = slt_mean - view.slts.mean(0), "SLT − whole class"
        images = np.stack([view.features[positions].mean(0), slt_mean, diff]).astype(np.float32)
        spectra = {f"all classes (n={ref_n})": ref_sig, f"class {cname} (n={view.n})": view.sigmas}
        reference, highlight = list(spectra)
        if cluster is not None or src != "all":
            text = "whole class" if cluster is None else "brushed points" if cluster == "brush" else f"cluster {cluster}"
            text += "" if src == "all" else f", only {src}"
            highlight = f"{text} (n={len(positions)})"
            spectra[highlight] = np.linalg.svd(view.slts[positions].astype(np.float64), compute_uv=False)
        titles = {"tree": f"UPGMA of SLT shapes · {cname} · {lname} node {view.node}",
                  "embedding": f"{EMBEDDINGS[used]} of {SPACES[space]} · {cname} (n = {view.n})"
                               + ("" if used == emb else " — t-SNE needs ≥ 4 distinct points"),
                  "spectra": f"SLT spectra · {lname} node {view.node}"}
        return Frame(view=view, labels=np.asarray(labels, dtype=np.int64), n_drawn=int(n_drawn),
                     positions=np.asarray(positions, dtype=np.int64), xy=xy, images=images,
                     image_titles=("mean features", "mean SLT", diff_title), spectra=spectra,
                     highlight=highlight, reference=reference, titles=titles, user=user)
