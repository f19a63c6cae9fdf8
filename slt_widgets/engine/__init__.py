"""The SLT engine: torch, numpy and scipy only — never widget code (a test enforces it)."""
from .errors import ChainMismatchError, SLTFallbackWarning, SLTInputError, SLTLayerError, UnsupportedModelError
from .chain import to_chain, eval_mode
from .slt import LinearMap, slt, slt_layers, activations
from .streaming import iter_inputs, iter_slt, iter_slt_layers, SLTCache
from .spectra import singular_spectrum, auc_score, NodeSpectra
from .gram_pass import node_spectra, input_spectra
from .describe import describe
from .dispatch import n_hidden_layers, read_model
from .reading import ModelReading
from .validate import layer_key, layer_label, resolve_layer

__all__ = ["SLTInputError", "SLTLayerError", "UnsupportedModelError", "ChainMismatchError", "SLTFallbackWarning", "to_chain", "eval_mode", "LinearMap", "slt",
           "slt_layers", "activations", "iter_inputs", "iter_slt", "iter_slt_layers", "SLTCache", "singular_spectrum",
           "auc_score", "node_spectra", "input_spectra", "NodeSpectra", "describe", "n_hidden_layers",
           "resolve_layer", "layer_key", "layer_label", "read_model", "ModelReading"]
