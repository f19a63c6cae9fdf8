"""slt_widgets: see what a multilayer perceptron does to its inputs.

Exact sample-dependent linear transforms (SLTs) of ReLU networks, the analyses of
Nagamine & Mesgarani (ICML 2017), and linked Jupyter widgets to explore them.
Heavy parts (datasets, widgets) load on first use so ``import slt_widgets`` stays fast.
"""
from importlib import import_module

from .engine import (LinearMap, SLTCache, SLTInputError, UnsupportedModelError, activations, auc_score,
                     describe, input_spectra, iter_slt, iter_slt_layers, node_spectra, singular_spectrum, slt,
                     slt_layers)

__version__ = "0.1.0"

_LAZY = {
    "FrameDataset": "slt_widgets.datasets",
    "load_digits_dataset": "slt_widgets.datasets",
    "load_demo": "slt_widgets.demo",
    "Explorer": "slt_widgets.widgets",
    "ExplorerModel": "slt_widgets.widgets",
    "TemplatePanel": "slt_widgets.widgets",
    "ClusterTree": "slt_widgets.widgets",
    "SelectivityMap": "slt_widgets.widgets",
    "SpectrumView": "slt_widgets.widgets",
    "EmbeddingView": "slt_widgets.widgets",
    "ConfusionPairs": "slt_widgets.widgets",
    "LayerSummary": "slt_widgets.widgets",
    "Recorder": "slt_widgets.widgets",
    "load_recordings": "slt_widgets.datasets",
    "LayerProfile": "slt_widgets.widgets",
    "Compare": "slt_widgets.widgets",
}

__all__ = ["LinearMap", "SLTCache", "SLTInputError", "UnsupportedModelError", "activations", "auc_score",
           "describe", "input_spectra", "iter_slt", "iter_slt_layers", "node_spectra", "singular_spectrum", "slt", "slt_layers",
           *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'slt_widgets' has no attribute {name!r}")
