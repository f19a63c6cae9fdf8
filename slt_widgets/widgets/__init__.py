"""Jupyter widgets: anywidget views (TemplatePanel, ClusterTree, SelectivityMap), bqplot views
(SpectrumView, EmbeddingView) and the composed Explorer, ConfusionPairs and LayerSummary, and the
Recorder (microphone takes aligned into a dataset)."""
from .template_panel import TemplatePanel
from .cluster_tree import CLUSTER_COLORS, ClusterTree
from .selectivity_map import SelectivityMap
from .spectrum_view import SpectrumView
from .embedding_view import EmbeddingView
from .explorer import Explorer, ExplorerModel, Selection
from .confusion_pairs import ConfusionPairs
from .layer_summary import LayerSummary
from .recorder import Recorder
from .layer_profile import LayerProfile
from .compare import Compare, CompareSelection
from ._static import register_box_pictures

register_box_pictures()      # a Tab or HBox of our views leaves a picture in saved notebooks too

__all__ = ["TemplatePanel", "ClusterTree", "SelectivityMap", "CLUSTER_COLORS", "SpectrumView", "EmbeddingView",
           "Explorer", "ExplorerModel", "Selection", "ConfusionPairs", "LayerSummary", "Recorder", "LayerProfile",
           "Compare", "CompareSelection"]
