"""The state behind `Compare`, without any widget: 2–4 networks, one selection, their layer profiles.

One selection drives every side: a class, a layer (aligned by index: ``HLk`` of each net, and
the output) and optionally a cluster of one side's tree. The frames shown are the same dataset
indices on every side; each side contributes its own SLTs of those frames (its node's row of the
sample-dependent linear transform), its own UPGMA tree and spectra.

The frames of a class are chosen once per class for all sides: a seeded random order of the
class's frames, kept while every net in ``correct_by`` classifies them correctly (the paper's
choice), up to ``max_samples``; predictions are made only for the frames visited.

A dataset joined by :func:`~slt_widgets.datasets.with_source` (the user's recordings next to the
corpus) is read as the Explorer reads it (:mod:`._sources`): every user frame of the class is
kept, misclassified ones too, and only the corpus's frames are filtered and subsampled;
``select(source="you")`` shows only the user's frames on every side.
"""
from __future__ import annotations

import difflib
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import traitlets as T
from torch import nn

from ..analysis import cut_labels, predict
from ..analysis.layer_profiles import MEASURES, LayerProfile, layer_profile
from ..engine import SLTCache, layer_key
from ..analysis.clustering import prototype_cut
from ._class_view import (ClassView, build_class_view, default_node, layer_label, layer_shapes)
from ._sources import check_source, source_of, yours_text

__all__ = ["CompareState", "CompareSelection", "check_kwargs", "profile_cache_clear"]

_MEMO_SIZE = 16
_PROFILE_CACHE: OrderedDict = OrderedDict()      # fingerprint → LayerProfile, shared by every Compare
_PROFILE_CACHE_SIZE = 16


def check_kwargs(where: str, given: dict, allowed) -> None:
    """Raise ``TypeError`` naming each unknown keyword of ``given`` with a did-you-mean hint."""
    allowed = tuple(allowed)
    unknown = [k for k in given if k not in allowed]
    if unknown:
        hints = {k: difflib.get_close_matches(k, sorted(allowed), n=1) for k in unknown}
        msg = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise TypeError(f"{where} got unknown keyword argument(s) {msg}; it takes {', '.join(sorted(allowed))}")


def profile_cache_clear() -> None:
    """Forget every cached layer profile (they are keyed by the weights, so this is rarely needed)."""
    _PROFILE_CACHE.clear()


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An ``nn.Sequential`` computing the same function as ``model`` in eval mode, with every
    ``BatchNorm1d`` that follows a ``Linear`` folded into it and dropout dropped (``model`` itself
    when there is nothing to fold or its structure is not a plain Linear/BatchNorm/ReLU/Dropout chain).

    The engine folds batch norm the same way on every call; for a 5 × 2048 net that re-folding
    (dense 2048 × 2048 products) costs more than the selected node's SLT rows, so each side folds
    once. The SLTs agree with those of ``model`` to float32 rounding.
    """
    import torch
    if not isinstance(model, nn.Sequential):
        return model
    mods = list(model)
    plain = (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Identity)
    if not all(type(m) in plain for m in mods) or not any(isinstance(m, nn.BatchNorm1d) for m in mods):
        return model
    out: list[nn.Module] = []
    for m in mods:
        if isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        if isinstance(m, nn.BatchNorm1d):
            if not out or not isinstance(out[-1], nn.Linear) or not m.track_running_stats:
                return model                          # not Linear → BatchNorm: leave it to the engine
            lin = out[-1]
            with torch.no_grad():
                g = (m.weight.double() if m.affine else torch.ones_like(m.running_var, dtype=torch.float64))
                beta = (m.bias.double() if m.affine else torch.zeros_like(m.running_mean, dtype=torch.float64))
                scale = g / torch.sqrt(m.running_var.double() + m.eps)
                b = lin.bias.double() if lin.bias is not None else torch.zeros_like(scale)
                new = nn.Linear(lin.in_features, lin.out_features, dtype=lin.weight.dtype)
                new.weight.copy_((lin.weight.double() * scale[:, None]).to(lin.weight.dtype))
                new.bias.copy_(((b - m.running_mean.double()) * scale + beta).to(lin.weight.dtype))
            out[-1] = new
        else:
            out.append(m)
    return nn.Sequential(*out).eval()


def first_cut(Z, n_clusters: int | None) -> float:
    """The tree's first cut height: the Explorer's prototype cut
    (:func:`~slt_widgets.analysis.prototype_cut`: 2–12 clusters of ≥ 2 % each, outliers grey),
    or with ``n_clusters`` the coarsest cut drawing that many clusters."""
    return prototype_cut(Z, n_clusters=n_clusters)[0]


def _fingerprint(model: nn.Module) -> str:
    """Hash of the model's parameters and buffers: the same weights give the same key."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in list(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class CompareSelection:
    """What every side of a :class:`Compare` shows (read-only).

    cls: class name; layer: ``1..L`` (aligned by index) or ``"output"``; cluster: ``None`` (the
    whole class) or a cluster id of ``side``'s tree at its cut; side: the side whose tree defined
    the cluster (None for the whole class); indices: ``[n]`` dataset indices shown on every side
    (read-only); n: their number; nodes: ``{side: node}`` (None where the net lacks the layer);
    cuts: ``{side: cut height}``; source: ``"all"`` or one source name of a dataset tagged by
    :func:`~slt_widgets.datasets.with_source` (only that source's frames shown); n_yours: how
    many of the ``n`` are the user's (None for an untagged dataset).
    """

    cls: str
    layer: int | str
    cluster: int | None
    side: str | None
    indices: np.ndarray = field(repr=False)
    n: int
    nodes: dict
    cuts: dict
    source: str = "all"
    n_yours: int | None = None

    @property
    def layer_name(self) -> str:
        return layer_label(self.layer)

    @property
    def source_text(self) -> str:
        """``""``, or ``", only you"`` / ``", only corpus"`` when one source is selected."""
        return "" if self.source == "all" else f", only {self.source}"


class _Side:
    """One network: its layer shapes, SLT cache and memo of class views."""

    def __init__(self, name: str, model: nn.Module, dataset, memory_budget):
        self.name, self.model = name, model
        self.engine_model = fold_batch_norm(model)
        self.chain = layer_shapes(self.engine_model, dataset)
        if self.chain.d_in != dataset.n_features:
            raise ValueError(f"model {name!r} expects {self.chain.d_in} inputs but the dataset has "
                             f"{dataset.n_features} features per sample; every net must take the same inputs")
        if self.chain.layer_width("output") < dataset.n_classes:
            raise ValueError(f"model {name!r} has {self.chain.layer_width('output')} outputs but the dataset has "
                             f"{dataset.n_classes} classes")
        self.cache = SLTCache(self.engine_model, dataset, memory_budget)
        self.views: OrderedDict = OrderedDict()
        self.fingerprint = _fingerprint(model)

    @property
    def n_hidden(self) -> int:
        return self.chain.n_hidden

    def has(self, layer) -> bool:
        return layer == "output" or 1 <= int(layer) <= self.n_hidden

    def architecture(self) -> str:
        widths = [self.chain.layer_width(l) for l in range(1, self.n_hidden + 1)]
        same = len(set(widths)) == 1
        body = f"{len(widths)} × {widths[0]}" if same and widths else " · ".join(map(str, widths))
        bn = any(isinstance(m, nn.BatchNorm1d) for m in self.model.modules())
        return body + (", batch norm" if bn else "")


class CompareState(T.HasTraits):
    """Headless model of :class:`~slt_widgets.widgets.compare.Compare` (see there for the arguments).

    Python API: :meth:`select`, :attr:`selection`, :meth:`view` (a side's :class:`ClassView`),
    :meth:`labels` (a side's cluster labels), :meth:`set_cut`, :attr:`profiles`,
    :meth:`profile` (one net's :class:`LayerProfile`, computed once and cached).
    """

    selection = T.Instance(CompareSelection, allow_none=True, read_only=True)

    def __init__(self, models, dataset, *, cls=None, layer="output", max_samples: int = 500, n_clusters: int | None = None,
                 correct_by="all", seed: int = 0, memory_budget="1GB", profile_options: dict | None = None):
        super().__init__()
        for attr in ("labels", "class_names", "feature_shape", "features_at", "n_features"):
            if not hasattr(dataset, attr):
                raise TypeError(f"dataset must be a slt_widgets.FrameDataset (missing .{attr}); wrap arrays "
                                "with FrameDataset.from_arrays(features, labels, class_names, feature_shape)")
        if not isinstance(models, dict):
            raise TypeError(f"models must be a dict {{name: model}} of 2 to 4 networks, got {type(models).__name__}; "
                            "e.g. Compare({'small': small, 'wide': wide}, dataset)")
        if not 2 <= len(models) <= 4:
            raise ValueError(f"Compare shows 2 to 4 networks side by side; got {len(models)}")
        for name, m in models.items():
            if not isinstance(name, str) or not name.strip():
                raise TypeError(f"model names must be non-empty strings, got {name!r}")
            if not isinstance(m, nn.Module):
                raise TypeError(f"models[{name!r}] must be a torch nn.Module, got {type(m).__name__}")
        if not isinstance(max_samples, (int, np.integer)) or isinstance(max_samples, bool) or max_samples < 3:
            raise ValueError(f"max_samples must be an int ≥ 3 (clustering needs samples), got {max_samples!r}")
        if n_clusters is not None and (not isinstance(n_clusters, (int, np.integer)) or isinstance(n_clusters, bool)
                                       or n_clusters < 1):
            raise ValueError(f"n_clusters must be None (the prototype cut) or an int ≥ 1, got {n_clusters!r}")
        if correct_by not in (None, "all") and correct_by not in models:
            raise ValueError(f"correct_by must be 'all', None (every frame of the class) or a model name "
                             f"({', '.join(map(repr, models))}); got {correct_by!r}")
        self.dataset = dataset
        self.user_mask, self.source_names = source_of(dataset)
        self.names = tuple(models)
        self.sides = {n: _Side(n, m, dataset, memory_budget) for n, m in models.items()}
        self.max_samples, self.seed = int(max_samples), int(seed)
        self.n_clusters = None if n_clusters is None else int(n_clusters)
        self.correct_by = correct_by
        self.profile_options = dict(profile_options or {})
        check_kwargs("profile_options", self.profile_options,
                     ("train", "max_train", "max_eval", "node_samples", "inc_cor_samples", "measures"))
        self.n_layers = max(s.n_hidden for s in self.sides.values())
        self._samples: dict[int, tuple[np.ndarray, str]] = {}
        self._yours_correct: dict = {}           # (side, class) → how many of the user's frames it gets right
        self._cuts: dict = {}                    # (side, cls, layer, node) → cut chosen by the user
        self._cut_now: dict = {}
        self.select(cls=dataset.class_names[0] if cls is None else cls, layer=layer)

    # ------------------------------------------------------------------ vocabulary
    def layer_key(self, layer):
        """``1..Lmax``, ``"HLk"``, ``"output"`` → ``1..Lmax`` or ``"output"`` (KeyError listing the choices)."""
        return layer_key(self.n_layers, layer, hint="layers are aligned by index")

    def layers(self) -> list:
        """Every selectable layer: ``[1, …, Lmax, "output"]``."""
        return list(range(1, self.n_layers + 1)) + ["output"]

    # ------------------------------------------------------------------ frames of a class
    def class_samples(self, c: int) -> tuple[np.ndarray, str]:
        """Dataset indices ``[n]`` (sorted) of class ``c`` shown on every side, and how they were chosen."""
        if c in self._samples:
            return self._samples[c]
        idx = np.flatnonzero(np.asarray(self.dataset.labels) == c)
        name = self.dataset.class_names[c]
        if len(idx) < 3:
            raise ValueError(f"class {name!r} has {len(idx)} frames in this dataset; Compare needs at least 3 "
                             "(choose another class or a larger split)")
        mine = np.zeros(0, np.int64)
        budget = self.max_samples
        if self.user_mask is not None:            # every user frame is kept; the corpus fills the rest
            mine, idx = idx[self.user_mask[idx]], idx[~self.user_mask[idx]]
            budget = max(3, self.max_samples - len(mine))
        keep, note = self._corpus_samples(c, idx, budget) if len(idx) else (idx, f"no frames of {name!r}")
        if self.user_mask is not None:
            note = note.replace(" frames of", " corpus frames of", 1)
            if len(mine):
                wrong = ", ".join(f"{n} {int((self._predict(n, mine) != c).sum())}" for n in self.names)
                note += f"; all {len(mine)} of yours kept (misclassified by {wrong})"
            else:
                note += "; none of yours"
            keep = np.concatenate([keep, mine])
        keep = np.sort(keep).astype(np.int64)
        self._samples[c] = (keep, note)
        return self._samples[c]

    def _corpus_samples(self, c: int, idx: np.ndarray, budget: int) -> tuple[np.ndarray, str]:
        """Up to ``budget`` of the frames ``idx [m]`` of class ``c`` that the ``correct_by`` nets
        classify correctly (seeded order, predicted only as far as needed), and how they were chosen."""
        name = self.dataset.class_names[c]
        order = np.random.default_rng([self.seed, c]).permutation(idx)
        judges = [] if self.correct_by is None else (list(self.names) if self.correct_by == "all" else [self.correct_by])
        if not judges:
            keep = order[:budget]
            note = f"{len(keep)} of {len(idx)} frames of {name!r} (seeded random subset)"
        else:
            # cheapest net first; the costlier ones judge only the frames it got right, and each
            # next chunk is sized from the share kept so far (a 5 × 2048 side predicts few frames)
            judges.sort(key=lambda j: sum(p.numel() for p in self.sides[j].engine_model.parameters()))
            kept, seen, n_kept = [], 0, 0
            step = budget + budget // 4 + 16
            while seen < len(order) and n_kept < budget:
                chunk = order[seen:seen + step]
                for j in judges:
                    if len(chunk):
                        chunk = chunk[self._predict(j, chunk) == c]
                kept.append(chunk)
                seen += step
                n_kept += len(chunk)
                rate = max(n_kept / min(seen, len(order)), 0.05)
                step = int(1.2 * (budget - n_kept) / rate) + 16
            seen = min(seen, len(order))
            keep = np.concatenate(kept)[:budget]
            who = "every net" if self.correct_by == "all" else repr(self.correct_by)
            if len(keep) >= 3:
                note = (f"{len(keep)} frames of {name!r} that {who} classifies correctly"
                        f" (seeded, of {seen} of its {len(idx)} frames checked)")
            else:
                keep = order[:budget]
                note = (f"{len(keep)} of {len(idx)} frames of {name!r}: {who} classifies fewer than 3 "
                        "correctly, so all frames are used")
        return keep, note

    def _predict(self, name: str, index: np.ndarray) -> np.ndarray:
        """Predicted classes ``[n]`` of side ``name`` for the dataset indices ``index [n]`` (any order)."""
        import torch
        m = self.sides[name].engine_model
        if not (isinstance(m, nn.Sequential) and isinstance(m[0], nn.Linear)):
            order = np.argsort(index, kind="stable")
            out = np.empty(len(index), np.int64)
            out[order] = predict(m, self.dataset, index=index[order])
            return out
        was = m.training
        m.eval()
        try:
            with torch.no_grad():
                return m(torch.from_numpy(self.dataset.features_at(index))).argmax(1).numpy().astype(np.int64)
        finally:
            m.train(was)

    # ------------------------------------------------------------------ one side's view
    def _node_for(self, side: _Side, c: int, layer, node) -> int | None:
        if not side.has(layer):
            return None
        width = side.chain.layer_width(layer)
        if node is not None:
            if not 0 <= int(node) < width:
                raise ValueError(f"node must be in 0..{width - 1} for {side.name!r} at {layer_label(layer)}, got {node}")
            return int(node)
        if layer == "output":
            return int(c)
        idx, _ = self.class_samples(c)
        return default_node(side.engine_model, self.dataset.features_at(idx), layer, c)

    def _class_view(self, side: _Side, c: int, layer, node: int) -> ClassView:
        idx, note = self.class_samples(c)
        key = (c, layer, node)
        lmap = side.cache.get(idx, layer=layer, nodes=[node])
        memo = side.views.get(key)
        if memo is not None and memo.source is lmap:
            side.views.move_to_end(key)
            return memo
        slts = lmap.weight[:, 0, :].detach().cpu().numpy()
        view = build_class_view(c, layer, node, idx, self.dataset.features_at(idx), slts, note, source=lmap)
        side.views[key] = view
        while len(side.views) > _MEMO_SIZE:
            side.views.popitem(last=False)
        return view

    def view(self, name: str) -> ClassView | None:
        """Side ``name``'s :class:`ClassView` of the current selection (None where its net lacks the layer)."""
        side = self._side(name)
        s = self.selection
        node = s.nodes[name]
        return None if node is None else self._class_view(side, self.dataset.class_index(s.cls), s.layer, node)

    def labels(self, name: str) -> np.ndarray | None:
        """Cluster ids ``[n]`` of side ``name``'s tree at its cut (0 = largest), None without the layer."""
        v = self.view(name)
        return None if v is None else cut_labels(v.linkage, self.selection.cuts[name])

    def _side(self, name) -> _Side:
        if name not in self.sides:
            hint = difflib.get_close_matches(str(name), self.names, n=1)
            raise KeyError(f"no side {name!r}; the sides are {', '.join(map(repr, self.names))}"
                           + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        return self.sides[name]

    # ------------------------------------------------------------------ selecting
    def select(self, cls=None, layer=None, cluster=None, side=None, node=None, source=None) -> CompareSelection:
        """Show class ``cls`` at ``layer`` on every side, then ``cluster`` of ``side``'s tree.

        cls: name (case-insensitive) or index; layer: ``1..Lmax``, ``"HLk"`` or ``"output"``
        (aligned by index; a net without that layer shows nothing there). Omitted arguments keep
        the current class / layer. cluster: None (the whole class) or a cluster id of ``side``'s
        tree at its current cut (side default: the first). node: ``{side: node}`` or one int for
        every side (default: the class's own output node, or at a hidden layer the node the
        class drives most in each net). source: only for a dataset joined by
        :func:`~slt_widgets.datasets.with_source`: ``"all"``, or one of ``meta["source_names"]``
        (e.g. ``"you"``: only the user's frames of the class or cluster, on every side); kept
        while class and layer stay, back to ``"all"`` when either changes. Returns the new
        :attr:`selection`; on an error nothing changes.
        """
        if source is not None:
            check_source(source, self.source_names)
        cur = self.selection
        c = self.dataset.class_index(cls if cls is not None else cur.cls)
        lay = self.layer_key(layer) if layer is not None else cur.layer
        if isinstance(node, dict):
            for k in node:
                self._side(k)
            want = dict(node)
        elif node is None:
            keep = cur is not None and c == self.dataset.class_index(cur.cls) and lay == cur.layer
            want = dict(cur.nodes) if keep else {}
        elif isinstance(node, (int, np.integer)) and not isinstance(node, bool):
            want = {n: int(node) for n in self.names}
        else:
            raise TypeError(f"node must be an int, a dict {{side: node}} or None, got {type(node).__name__}")
        if cluster is not None and (isinstance(cluster, bool) or not isinstance(cluster, (int, np.integer))):
            raise TypeError(f"cluster must be None or an int cluster id, got {type(cluster).__name__}")
        src = self.names[0] if side is None else side
        self._side(src)
        c_idx, _ = self.class_samples(c)
        nodes = {n: self._node_for(s, c, lay, want.get(n)) for n, s in self.sides.items()}
        views = {n: (None if nodes[n] is None else self._class_view(s, c, lay, nodes[n])) for n, s in self.sides.items()}
        if all(v is None for v in views.values()):
            raise KeyError(f"no net has layer {layer_label(lay)}")
        cuts = {}
        for n, v in views.items():
            if v is not None:
                cuts[n] = self._cuts.get((n, c, lay, nodes[n]), first_cut(v.linkage, self.n_clusters))
        pos = np.arange(len(c_idx))
        if cluster is not None:
            v = views[src]
            if v is None:
                raise ValueError(f"{src!r} has no {layer_label(lay)}; pick the cluster on another side")
            lab = cut_labels(v.linkage, cuts[src])
            k = int(cluster)
            if not 0 <= k <= int(lab.max()):
                raise ValueError(f"cluster must be in 0..{int(lab.max())} for {src!r}'s tree at cut "
                                 f"{cuts[src]:.3g}, got {k}")
            pos = np.flatnonzero(lab == k)
        same = cur is not None and c == self.dataset.class_index(cur.cls) and lay == cur.layer
        source = source if source is not None else (cur.source if same else "all")
        yours = None if self.user_mask is None else self.user_mask[c_idx]
        if source != "all":
            pos = pos[yours[pos] == (source == self.source_names[1])]
            if pos.size == 0:
                where = "the class" if cluster is None else f"cluster {int(cluster)} of {src!r}"
                raise ValueError(f"{where} holds no frames from source {source!r}; pick another cluster or "
                                 "source='all'")
        idx = c_idx[pos].copy()
        idx.setflags(write=False)
        sel = CompareSelection(cls=self.dataset.class_names[c], layer=lay, cluster=None if cluster is None else int(cluster),
                               side=None if cluster is None else src, indices=idx, n=len(idx), nodes=nodes, cuts=cuts,
                               source=source, n_yours=None if yours is None else int(yours[pos].sum()))
        self.set_trait("selection", sel)
        return sel

    def set_cut(self, name: str, cut: float) -> CompareSelection:
        """Cut side ``name``'s tree at height ``cut`` (kept for this class, layer and node); the
        selection goes back to the whole class. Returns the new :attr:`selection`."""
        v = self.view(name)
        if v is None:
            raise ValueError(f"{name!r} has no {self.selection.layer_name}: it has no tree to cut")
        top = float(v.linkage[:, 2].max())
        if not 0 <= float(cut) <= top:
            raise ValueError(f"cut must be between 0 and the root height {top:.4g}, got {cut}")
        s = self.selection
        self._cuts[(name, self.dataset.class_index(s.cls), s.layer, s.nodes[name])] = float(cut)
        return self.select()

    def positions(self) -> np.ndarray:
        """Rows ``[n]`` of every side's class view that the selection shows (the same on every side)."""
        c_idx, _ = self.class_samples(self.dataset.class_index(self.selection.cls))
        return np.searchsorted(c_idx, self.selection.indices)

    def yours(self) -> np.ndarray | None:
        """``[n]`` bool over the rows of every side's class view: which are the user's frames
        (None for a dataset not tagged by source)."""
        if self.user_mask is None:
            return None
        c_idx, _ = self.class_samples(self.dataset.class_index(self.selection.cls))
        return self.user_mask[c_idx]

    def count_text(self) -> str:
        """``"60 frames"``, or ``"60 frames (12 yours)"`` for a dataset tagged by source."""
        s = self.selection
        text = f"{s.n} {'frames' if getattr(self.dataset, '_frames', None) is not None else 'samples'}"
        return text if s.n_yours is None else f"{text} ({yours_text(s.n_yours, self.source_names)})"

    def where_yours(self, name: str) -> dict | None:
        """Where the user's frames of the class sit in side ``name``'s tree at its cut and how that
        net classifies them: ``{"clusters": {cluster id: count}, "n": k, "correct": j}`` (None for
        an untagged dataset or a net without the layer)."""
        mine = self.yours()
        if mine is None:
            return None
        v = self.view(name)
        if v is None:
            return None
        lab = cut_labels(v.linkage, self.selection.cuts[name])[mine]
        ids, counts = np.unique(lab, return_counts=True)
        c = self.dataset.class_index(self.selection.cls)
        if (name, c) not in self._yours_correct:
            rows = v.index[mine]
            self._yours_correct[(name, c)] = int((self._predict(name, rows) == c).sum()) if len(rows) else 0
        correct = self._yours_correct[(name, c)]
        return {"clusters": {int(i): int(k) for i, k in zip(ids, counts)}, "n": int(mine.sum()), "correct": correct}

    # ------------------------------------------------------------------ profiles
    def profile_ready(self, name: str) -> bool:
        """Whether side ``name``'s layer profile is already computed (cached)."""
        return self._profile_key(name) in _PROFILE_CACHE

    def _profile_key(self, name):
        opts = dict(self.profile_options)
        train = opts.pop("train", None)
        return (self._side(name).fingerprint, id(self.dataset), len(self.dataset), id(train), self.seed,
                tuple(sorted((k, v if not isinstance(v, (list, tuple)) else tuple(v)) for k, v in opts.items())))

    def profile(self, name: str) -> LayerProfile:
        """Side ``name``'s :class:`LayerProfile` (computed on first use, then cached by its weights)."""
        key = self._profile_key(name)
        if key not in _PROFILE_CACHE:
            _PROFILE_CACHE[key] = layer_profile(self.sides[name].engine_model, self.dataset, seed=self.seed,
                                                **self.profile_options)
            while len(_PROFILE_CACHE) > _PROFILE_CACHE_SIZE:
                _PROFILE_CACHE.popitem(last=False)
        _PROFILE_CACHE.move_to_end(key)
        return _PROFILE_CACHE[key]

    @property
    def profiles(self) -> dict:
        """``{measure: {model: {layer: value}}}`` for every measure of
        :data:`~slt_widgets.analysis.layer_profiles.MEASURES`, every model and each layer where
        the measure is defined (``"input"``, ``"HL1"`` …, ``"output"``). Computed on first access."""
        per = {n: self.profile(n) for n in self.names}
        measures = [m for m in MEASURES if any(m in p.values for p in per.values())]
        return {m: {n: dict(per[n].values.get(m, {})) for n in self.names} for m in measures}

    def profile_rows(self) -> list[dict]:
        """:attr:`profiles` as rows ``{"measure", "model", "layer", "value"}`` (one per number)."""
        return [{"measure": m, "model": n, "layer": l, "value": v}
                for m, per in self.profiles.items() for n, vals in per.items() for l, v in vals.items()]
