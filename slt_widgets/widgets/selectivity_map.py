"""SelectivityMap: class selectivity matrix [K × M] in clustered order with both dendrograms (Fig. 2)."""
from __future__ import annotations

import numpy as np
import traitlets
from scipy.cluster.hierarchy import leaves_list

from ._anywidget_base import STATIC, SLTAnyWidget, bundle_esm
from ._codec import ArrayTrait

__all__ = ["SelectivityMap"]


class SelectivityMap(SLTAnyWidget):
    """Heatmap of class selectivity vectors ``csv [K, M]`` (K classes × M nodes), rows and columns
    in dendrogram order, the class dendrogram on the left and the node dendrogram on top (links
    below ``col_cut`` coloured by node cluster). Click a cell: ``selected_node`` / ``selected_class``.

    Build it from an ``analysis.co_cluster`` result: ``SelectivityMap(csv, class_names, co=co)``;
    without ``co`` the co-clustering is computed here (correlation distance, UPGMA, cut 0.5).

    Traits (synced)
    ---------------
    csv : ``[K, M]`` float32. row_order : ``[K]``, col_order : ``[M]`` permutations (int32);
    each must list its dendrogram's leaves first, in dendrogram order (``leaves_list``).
    row_linkage : ``[K'-1, 4]`` over the classes ``row_leaves [K']``; col_linkage ``[M'-1, 4]``
    over the nodes ``col_leaves [M']`` (live nodes; dead ones have no leaf and are drawn last).
    col_labels : ``[M]`` node cluster at ``col_cut`` (−1: dead). class_names : ``[K]``.
    selected_node ∈ −1..M−1, selected_class ∈ −1..K−1 (−1 = none). layer_title : heading.
    normalize : "column" (each node scaled by its max |value|) or "none".
    """

    _esm = bundle_esm("selectivity_map.js")
    _css = STATIC / "selectivity_map.css"

    csv = ArrayTrait("float32", ndim=2).tag(sync=True)
    row_order = ArrayTrait("int32", ndim=1).tag(sync=True)
    col_order = ArrayTrait("int32", ndim=1).tag(sync=True)
    row_linkage = ArrayTrait("float64", ndim=2).tag(sync=True)
    col_linkage = ArrayTrait("float64", ndim=2).tag(sync=True)
    row_leaves = ArrayTrait("int32", ndim=1).tag(sync=True)
    col_leaves = ArrayTrait("int32", ndim=1).tag(sync=True)
    col_labels = ArrayTrait("int32", ndim=1).tag(sync=True)
    col_cut = traitlets.Float(None, allow_none=True).tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected_node = traitlets.Int(-1).tag(sync=True)
    selected_class = traitlets.Int(-1).tag(sync=True)
    layer_title = traitlets.Unicode("").tag(sync=True)
    normalize = traitlets.Enum(("column", "none"), "column").tag(sync=True)
    width = traitlets.Int(760).tag(sync=True)

    def __init__(self, csv, class_names=None, *, co=None, cut: float = 0.5, **kwargs):
        c = csv.detach().cpu().numpy() if hasattr(csv, "detach") else np.asarray(csv, dtype=np.float64)
        if c.ndim != 2:
            raise traitlets.TraitError(f"csv must be a [K classes, M nodes] matrix; got shape {c.shape}")
        if co is None:
            from ..analysis.selectivity import co_cluster
            co = co_cluster(c, cut=cut)
        K, M = c.shape
        names = [str(k) for k in range(K)] if class_names is None else [str(n) for n in class_names]
        fields = dict(csv=c, class_names=names, row_order=co.class_order, col_order=co.node_order,
                      row_linkage=co.class_linkage, col_linkage=co.node_linkage,
                      row_leaves=np.arange(K), col_leaves=co.live_index, col_labels=co.node_labels,
                      col_cut=co.cut)
        fields.update(kwargs)
        super().__init__(**fields)

    @property
    def shape(self) -> tuple[int, int]:
        """``(K, M)``."""
        return tuple(self.csv.shape)

    # -- validation ---------------------------------------------------------------------------
    def _cross_check(self):
        """Check the traits against each other (called after any of them changes)."""
        K, M = self.csv.shape
        for name, order, n in (("row_order", self.row_order, K), ("col_order", self.col_order, M)):
            if len(order) != n or not np.array_equal(np.sort(order), np.arange(n)):
                raise traitlets.TraitError(f"{name} must be a permutation of 0..{n - 1} "
                                           f"(csv is {K}×{M}); got {len(order)} values")
        for side, Z, leaves, order, n in (("row", self.row_linkage, self.row_leaves, self.row_order, K),
                                          ("col", self.col_linkage, self.col_leaves, self.col_order, n_ := M)):
            if len(Z) == 0:
                continue
            if Z.shape[1] != 4:
                raise traitlets.TraitError(f"{side}_linkage must be [n-1, 4]; got {Z.shape}")
            if len(leaves) != len(Z) + 1 or (leaves.size and (leaves.min() < 0 or leaves.max() >= n)):
                raise traitlets.TraitError(f"{side}_leaves must give the csv index (0..{n - 1}) of each of the "
                                           f"{len(Z) + 1} leaves of {side}_linkage; got {len(leaves)} values")
            if not np.array_equal(leaves[leaves_list(Z)], order[:len(leaves)]):
                raise traitlets.TraitError(f"{side}_order must start with the leaves of {side}_linkage in "
                                           "dendrogram order (leaves[scipy leaves_list(linkage)]); "
                                           "pass co=analysis.co_cluster(csv) to get consistent orders")
        if len(self.col_labels) != M:
            raise traitlets.TraitError(f"col_labels needs one cluster id per node ({M}); got {len(self.col_labels)}")
        if len(self.class_names) != K:
            raise traitlets.TraitError(f"class_names needs {K} names (one per csv row); got {len(self.class_names)}")

    @traitlets.validate("csv", "row_order", "col_order", "row_linkage", "col_linkage", "row_leaves",
                        "col_leaves", "col_labels", "class_names")
    def _v_structure(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        if name == "csv" and min(value.shape) < 1:
            raise traitlets.TraitError(f"csv must be [K, M] with K, M ≥ 1; got {value.shape}")
        old = getattr(self, name)
        self._trait_values[name] = value  # check the proposed value together with the others
        try:
            self._cross_check()
        finally:
            self._trait_values[name] = old
        return value

    @traitlets.validate("selected_node", "selected_class")
    def _v_selected(self, proposal):
        v, name = proposal["value"], proposal["trait"].name
        n = self.csv.shape[1 if name == "selected_node" else 0]
        what = "node (column)" if name == "selected_node" else "class (row)"
        if v != -1 and not 0 <= v < n:
            raise traitlets.TraitError(f"{name} must be -1 (none) or a {what} index 0..{n - 1}; got {v}")
        return v

    @traitlets.validate("col_cut")
    def _v_cut(self, proposal):
        v = proposal["value"]
        if v is not None and (not np.isfinite(v) or v < 0):
            raise traitlets.TraitError(f"col_cut must be a finite height ≥ 0 or None; got {v}")
        return v

    def _figure(self):
        from ._static_png import render_selectivity_map
        leaf_cluster = self.col_labels[self.col_leaves] if len(self.col_leaves) else np.zeros(0, dtype=np.int64)
        return render_selectivity_map(self.csv, self.row_order, self.col_order, self.row_linkage,
                                      self.col_linkage, leaf_cluster, self.col_cut, self.class_names,
                                      normalize=self.normalize, layer_title=self.layer_title,
                                      selected_node=self.selected_node, selected_class=self.selected_class)

    def alt_text(self) -> str:
        """What the view shows, in words: the text alternative of its picture (screen readers)."""
        K, M = self.csv.shape
        return f"selectivity map {self.layer_title}: {K} classes × {M} nodes in clustered order"

