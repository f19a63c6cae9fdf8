"""Jupyter widgets: anywidget views (TemplatePanel, ClusterTree, SelectivityMap), bqplot views
(SpectrumView, EmbeddingView) and the composed Explorer, ConfusionPairs and LayerSummary."""
from .template_panel import TemplatePanel
from .cluster_tree import CLUSTER_COLORS, ClusterTree
from .selectivity_map import SelectivityMap
from .spectrum_view import SpectrumView
from .embedding_view import EmbeddingView
from .explorer import Explorer, ExplorerModel, Selection
from .confusion_pairs import ConfusionPairs
from .layer_summary import LayerSummary

__all__ = ["TemplatePanel", "ClusterTree", "SelectivityMap", "CLUSTER_COLORS", "SpectrumView", "EmbeddingView",
           "Explorer", "ExplorerModel", "Selection", "ConfusionPairs", "LayerSummary"]
