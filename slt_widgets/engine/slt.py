"""The public SLT functions: validate the arguments, read the model once, dispatch (METHODS §1).

For every sample ``x`` and layer ``l`` the engine returns ``A_l(x)`` and ``c_l(x)`` with
``A_l(x) x + c_l(x) = h_l(x)``, the layer's real activation. The work is done by the model's
reading (:func:`slt_widgets.engine.dispatch.read_model`): the chain of tall matrix multiplies for
MLPs (:mod:`slt_widgets.engine.chain_reading`, every chunk verified against the model's own
output) or ``torch.func`` Jacobians for any other model (:mod:`slt_widgets.engine.general`); the
fallback from one to the other is decided in :func:`slt_widgets.engine.dispatch.verified`.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from .chain_record import forward_record
from .dispatch import check_method, read_model, verified
from .errors import ChainMismatchError
from .maps import LinearMap
from .reading import DEFAULT_CHUNK
from .validate import as_input, check_chunk, check_dtype, resolve_device, resolve_layer, resolve_nodes

__all__ = ["LinearMap", "slt", "slt_layers", "activations", "forward_record", "resolve_layer",
           "resolve_nodes", "as_input", "DEFAULT_CHUNK", "resolve_device", "check_dtype", "check_chunk",
           "ChainMismatchError"]


def slt(model: nn.Module, x, layer="output", nodes=None, *, chunk: int = DEFAULT_CHUNK,
        dtype=None, device=None, method: str = "auto") -> LinearMap:
    """Sample-dependent linear transforms of one layer.

    Parameters
    ----------
    model : ``nn.Module`` — a (nested) ``nn.Sequential`` of supported modules (see
        :func:`slt_widgets.describe`), or any feed-forward model (the general path). Always
        evaluated in eval mode; it is not changed.
    x : ``[n, d_in]`` tensor or array (``[n, *shape]`` is flattened on the chain path).
    layer : ``"output"`` or hidden layer ``1..L`` (the k-th nonlinearity's output).
    nodes : optional rows of the layer (ints, slice or bool mask ``[d_layer]``); cost
        scales with their number.
    chunk : samples per chunk of the chain product.
    dtype : compute dtype (default: x's, float32 for non-float input).
    device : where to compute (default: the model's device).
    method : ``"auto"`` (the chain when the model reads as one, verified; else the general
        path), ``"chain"`` or ``"general"`` (``torch.func``, runs the model itself).

    Returns
    -------
    :class:`LinearMap` with weight ``[n, r, d_in]`` and bias ``[n, r]`` (``r`` = selected
    rows) such that ``weight @ x + bias`` equals the layer's activations.
    """
    check_method(method)
    check_chunk(chunk)
    reading = read_model(model, method)
    return verified(model, reading, lambda r: r.slt(x, layer, nodes, chunk=chunk, dtype=dtype, device=device))[0]


def slt_layers(model: nn.Module, x, layers: Sequence | None = None, *, chunk: int = DEFAULT_CHUNK,
               dtype=None, device=None) -> dict:
    """SLTs of several layers at once by the forward chain ``J_k = diag(s_k) W_k J_{k-1}``.

    layers: hidden layer numbers and/or ``"output"`` (default: every hidden layer and
    the output). Returns ``{layer: LinearMap}`` with weight ``[n, d_layer, d_in]``
    (a transposed view of ``[n, d_in, d_layer]`` storage) and bias ``[n, d_layer]``.
    Memory is ``n × d_in × Σ d_layer``: stream with :func:`iter_slt_layers` for large n.
    Models off the chain path (conv nets, residual blocks) get one general-path
    :func:`slt` per layer instead.
    """
    check_chunk(chunk)
    reading = read_model(model)
    return verified(model, reading, lambda r: r.slt_layers(x, layers, chunk=chunk, dtype=dtype, device=device))[0]


def activations(model: nn.Module, x, *, chunk: int = 4096, dtype=None, device=None) -> dict:
    """Real activations of every hidden layer and the output.

    x ``[n, d_in]`` → ``{1: [n, d_1], …, L: [n, d_L], "output": [n, d_out]}`` (eval mode).
    Models off the chain path take ``x [n, *shape]`` and give flattened activations.
    """
    reading = read_model(model)
    return verified(model, reading, lambda r: r.activations(x, chunk=chunk, dtype=dtype, device=device))[0]
