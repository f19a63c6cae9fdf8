"""ClusterTree: an SVG dendrogram with a draggable cut and clickable clusters."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import traitlets
from scipy.cluster.hierarchy import is_valid_linkage

from ..analysis.clustering import cut_labels
from ._anywidget_base import STATIC, SLTAnyWidget, bundle_esm
from ._codec import ArrayTrait
from ._static_png import ABOVE_CUT, CLUSTER_COLORS, cluster_color

__all__ = ["ClusterTree", "CLUSTER_COLORS", "ABOVE_CUT", "cluster_color", "truncate_linkage",
           "TruncatedTree"]


@dataclass(frozen=True)
class TruncatedTree:
    """The top of a linkage ``Z [n-1, 4]``: its last ``m - 1`` merges.

    tree: ``[m-1, 4]`` float64 linkage over m displayed leaves (ids 0..m-1, merges m..2m-2);
    nodes: ``[m]`` original node id of each displayed leaf (< n: a sample, else merge ``id - n``);
    counts: ``[m]`` samples under each displayed leaf (sums to n); heights: ``[m]`` merge height
    inside each displayed leaf (0 for a single sample); rep: ``[m]`` one sample under each leaf.
    """

    tree: np.ndarray
    nodes: np.ndarray
    counts: np.ndarray
    heights: np.ndarray
    rep: np.ndarray


def truncate_linkage(Z, max_leaves: int) -> TruncatedTree:
    """Keep the top ``min(max_leaves, n)`` clusters of ``Z [n-1, 4]`` as leaves (scipy's
    ``truncate_mode="lastp"``), so only ``O(max_leaves)`` numbers cross the wire."""
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z) + 1
    m = max(1, min(int(max_leaves), n))
    a, b = Z[:, 0].astype(np.int64), Z[:, 1].astype(np.int64)
    counts = np.ones(2 * n - 1, dtype=np.int64)
    rep = np.arange(2 * n - 1, dtype=np.int64)
    for i in range(n - 1):  # children always precede their parent
        counts[n + i] = counts[a[i]] + counts[b[i]]
        rep[n + i] = rep[a[i]]
    height = np.concatenate([np.zeros(n), Z[:, 2]])
    if m == n:  # nothing to truncate: keep the sample ids
        idx = np.arange(n)
        return TruncatedTree(tree=Z.copy(), nodes=idx, counts=counts[:n], heights=height[:n], rep=idx)
    first = n - m                      # rows first..n-2 are the displayed merges
    boundary = n + first               # node ids below this are displayed leaves
    rows = Z[first:]
    leaf_ids: dict[int, int] = {}
    tree = np.zeros((m - 1, 4))
    for r, (ca, cb, h, _) in enumerate(rows):
        new = []
        for c in (int(ca), int(cb)):
            if c < boundary:
                new.append(leaf_ids.setdefault(c, len(leaf_ids)))
            else:
                new.append(m + (c - boundary))
        tree[r] = (new[0], new[1], h, counts[boundary + r])
    nodes = np.empty(m, dtype=np.int64)
    for c, i in leaf_ids.items():
        nodes[i] = c
    if m == 1:
        nodes[0] = 2 * n - 2
    return TruncatedTree(tree=tree, nodes=nodes, counts=counts[nodes], heights=height[nodes], rep=rep[nodes])


class ClusterTree(SLTAnyWidget):
    """Dendrogram of a linkage ``Z [n-1, 4]`` (scipy format, e.g. from ``analysis.upgma``).

    Traits
    ------
    linkage : ``[n-1, 4]`` float64 — Python only; the top ``max_leaves`` clusters are sent.
    cut : float, synced — height of the cut line (drag it in the browser); 0 ≤ cut ≤ root height.
    labels : ``[n]`` int32, synced, read-only — cluster of every sample at ``cut`` (0 = largest,
        ``analysis.cut_labels``); recomputed whenever ``cut`` or ``linkage`` change.
    selected : int, synced — cluster id clicked in the browser, −1 for none (reset to −1 when
        ``cut`` changes, because cluster ids change with it).
    max_leaves : int, synced — displayed leaves (≥ 2), scipy's ``truncate_mode="lastp"``: a
        displayed leaf holding k samples is labelled "k" ("#c · k" when it is all of drawn cluster
        c). The "+ detail" / "− detail" buttons in the browser double it / set it back to one leaf
        per cluster.
    n_drawn : int, synced — clusters drawn in colour (ids 0..n_drawn−1, largest first); the
        others form one grey "other" group and are not click targets. 0 = every cluster.
    unit : what the samples are called in labels ("samples", "frames").
    leaf_names : ``[n]`` names of the samples (optional; shown for single-sample leaves).
    title, height_label, orientation : "top" (root at top, leaves below) or "left" (root left).
    width, height : size in pixels.
    Colours: cluster c is ``CLUSTER_COLORS[c % len(CLUSTER_COLORS)]``; links above the cut ``ABOVE_CUT``.
    Browser: each drawn cluster is one click target over its whole subtree (``data-cluster``);
    the cut is dragged by the knob left of the axis; Tab, arrow keys and Enter select from the
    keyboard; the legend's entries select their cluster.
    """

    _esm = bundle_esm("cluster_tree.js")
    _css = STATIC / "cluster_tree.css"

    linkage = ArrayTrait("float64", ndim=2)
    cut = traitlets.Float(0.0).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    labels = ArrayTrait("int32", ndim=1).tag(sync=True)
    max_leaves = traitlets.Int(60).tag(sync=True)
    n_drawn = traitlets.Int(0).tag(sync=True)
    #: counts the browser's "whole class" clicks: a reset request even when no tree cluster is
    #: selected (the selection may come from elsewhere, e.g. a brush in a linked embedding)
    reset_clicks = traitlets.Int(0).tag(sync=True)
    unit = traitlets.Unicode("samples").tag(sync=True)
    leaf_names = traitlets.List(traitlets.Unicode(), allow_none=True, default_value=None)
    title = traitlets.Unicode("").tag(sync=True)
    height_label = traitlets.Unicode("distance").tag(sync=True)
    orientation = traitlets.Enum(("top", "left"), "top").tag(sync=True)
    width = traitlets.Int(560).tag(sync=True)
    height = traitlets.Int(320).tag(sync=True)
    # The truncated tree that crosses the wire (see TruncatedTree).
    _tree = ArrayTrait("float64", ndim=2).tag(sync=True)
    _leaf_counts = ArrayTrait("int32", ndim=1).tag(sync=True)
    _leaf_heights = ArrayTrait("float64", ndim=1).tag(sync=True)
    _leaf_rep = ArrayTrait("int32", ndim=1).tag(sync=True)
    _leaf_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, linkage, cut=None, **kwargs):
        Z = np.asarray(linkage, dtype=np.float64)
        if cut is None and Z.ndim == 2 and len(Z):
            cut = 0.5 * float(np.max(Z[:, 2]))
        super().__init__(linkage=Z, cut=0.0 if cut is None else cut, **kwargs)

    # -- derived state ----------------------------------------------------------------------
    @property
    def n_leaves(self) -> int:
        """Number of samples n (rows of the linkage + 1)."""
        return len(self.linkage) + 1

    @property
    def n_clusters(self) -> int:
        """Number of clusters at the current cut."""
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def root_height(self) -> float:
        return float(self.linkage[:, 2].max())

    def leaf_clusters(self) -> np.ndarray:
        """Cluster id of each displayed leaf ``[m]``; −1 where the cut splits that leaf."""
        c = self.labels[self._leaf_rep].astype(np.int64)
        c[self._leaf_heights > self.cut] = -1
        return c

    @property
    def drawn(self) -> int:
        """Clusters drawn in colour at the current cut (``n_drawn``, 0 meaning all of them)."""
        return self.n_clusters if self.n_drawn <= 0 else min(self.n_drawn, self.n_clusters)

    @traitlets.observe("linkage", "max_leaves", "leaf_names")
    def _on_tree(self, change):
        if not len(self.linkage):
            return
        self._retruncate()
        if not 0 <= self.cut <= self.root_height:  # a new, lower tree: keep the cut on it
            self.cut = min(max(self.cut, 0.0), self.root_height)
        self._relabel()

    @traitlets.observe("cut")
    def _on_cut(self, change):
        if len(self.linkage):
            self._relabel()

    def _retruncate(self):
        t = truncate_linkage(self.linkage, self.max_leaves)
        names = self.leaf_names
        # a leaf is labelled by its count; only a single sample with a given name shows the name
        # (never a bare row index, which reads like a count)
        leaf_labels = [names[int(node)] if names is not None and cnt == 1 else f"({cnt})"
                       for node, cnt in zip(t.nodes, t.counts)]
        with self.hold_sync():
            self._tree = t.tree
            self._leaf_counts = t.counts
            self._leaf_heights = t.heights
            self._leaf_rep = t.rep
            self._leaf_labels = leaf_labels

    def _relabel(self):
        with self.hold_sync():
            self.labels = cut_labels(self.linkage, self.cut).astype(np.int32)
            self.selected = -1

    # -- validation ---------------------------------------------------------------------------
    @traitlets.validate("linkage")
    def _v_linkage(self, proposal):
        Z = proposal["value"]
        if Z.shape[1:] != (4,) or len(Z) < 1:
            raise traitlets.TraitError(f"linkage must be a scipy linkage matrix [n-1, 4] with n ≥ 2 samples "
                                       f"(e.g. analysis.upgma(x)); got shape {Z.shape}")
        if (Z[:, 2] < 0).any():
            raise traitlets.TraitError("linkage heights (column 2) must be ≥ 0")
        try:
            is_valid_linkage(Z, throw=True, name="linkage")
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(f"not a valid linkage matrix: {err}") from err
        names = self.leaf_names
        if names is not None and len(names) != len(Z) + 1:
            raise traitlets.TraitError(f"leaf_names has {len(names)} names but the linkage has "
                                       f"{len(Z) + 1} samples")
        return Z

    @traitlets.validate("cut")
    def _v_cut(self, proposal):
        cut = proposal["value"]
        top = float(self.linkage[:, 2].max()) if len(self.linkage) else np.inf
        if not np.isfinite(cut) or cut < 0 or cut > top:
            raise traitlets.TraitError(f"cut must be a height between 0 and the root height {top:.4g} "
                                       f"(the tallest merge); got {cut}")
        return float(cut)

    @traitlets.validate("selected")
    def _v_selected(self, proposal):
        s = proposal["value"]
        n = self.n_clusters
        if s != -1 and not 0 <= s < n:
            raise traitlets.TraitError(f"selected must be -1 (none) or a cluster id 0..{n - 1} at the current "
                                       f"cut; got {s}")
        return s

    @traitlets.validate("max_leaves")
    def _v_max_leaves(self, proposal):
        if proposal["value"] < 2:
            raise traitlets.TraitError(f"max_leaves must be ≥ 2; got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("leaf_names")
    def _v_leaf_names(self, proposal):
        names = proposal["value"]
        if names is not None and len(self.linkage) and len(names) != len(self.linkage) + 1:
            raise traitlets.TraitError(f"leaf_names needs one name per sample ({len(self.linkage) + 1}); "
                                       f"got {len(names)}")
        return names

    @traitlets.validate("width", "height")
    def _v_size(self, proposal):
        if proposal["value"] < 80:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be ≥ 80 pixels; got {proposal['value']}")
        return proposal["value"]

    def _figure(self):
        from ._static_png import render_cluster_tree
        leaf = self.leaf_clusters()
        counts = np.asarray(self._leaf_counts)
        sizes = np.bincount(self.labels, minlength=self.n_clusters) if len(self.labels) else np.zeros(0, int)
        drawn, other = self.drawn, self.n_clusters - self.drawn
        # leaf labels as the live tree writes them: "#id · n" for a leaf that is a whole drawn cluster
        labels = [f"#{c} · {n}" if 0 <= c < drawn and n == sizes[c] else
                  (lab if n == 1 and lab and not re.fullmatch(r"\(\d+\)", lab) else str(n))
                  for c, n, lab in zip(leaf.tolist(), counts.tolist(), self._leaf_labels)]
        leaf[leaf >= drawn] = -1                           # the grey "other" group
        cut_text = f"cut {self.cut:.3g} · {drawn} cluster{'s' if drawn != 1 else ''}" + \
            (f" + {other} small" if other > 0 else "")
        return render_cluster_tree(self._tree, leaf, labels, self.cut,
                                   selected=self.selected, title=self.title, orientation=self.orientation,
                                   height_label=self.height_label, leaf_heights=self._leaf_heights,
                                   leaf_counts=counts, cut_text=cut_text)

    def alt_text(self) -> str:
        """What the view shows, in words: the text alternative of its picture (screen readers)."""
        sel = f", cluster {self.selected} selected" if self.selected >= 0 else ""
        return f"cluster tree {self.title}: {self.n_leaves} samples, {self.n_clusters} clusters at cut {self.cut:.3g}{sel}"

