"""Validation of everything a user hands the engine: inputs, devices, dtypes, chunk sizes, layers
and node selections, with messages that name the problem and the fix. One layer vocabulary for the
whole package: :func:`layer_key` reads a layer (``1..L``, ``"HL2"``, ``"output"``; :func:`resolve_layer`
numbers it ``1..L+1``) and :func:`layer_label` writes one.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .errors import SLTInputError, SLTLayerError

__all__ = ["as_input", "resolve_device", "check_dtype", "check_chunk", "resolve_layer", "layer_key", "resolve_nodes",
           "layer_label", "model_device"]

def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def as_input(x, d_in: int | None, dtype=None, device=None) -> torch.Tensor:
    """Validate and convert inputs to a float tensor ``[n, d_in]`` (flattening ``[n, *shape]``)."""
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise SLTInputError(f"x must hold numbers, got numpy dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise SLTInputError(f"x must be a torch.Tensor or numpy array [n, d_in], got {type(x).__name__}")
    if x.is_complex():
        raise SLTInputError(f"x is complex ({x.dtype}); the engine needs real inputs: pass x.real or x.abs()")
    if x.dtype in (torch.float16, torch.bfloat16) or not x.is_floating_point():
        x = x.to(torch.float32)
    if dtype is not None:
        x = x.to(dtype)
    if device is not None:
        x = x.to(device)
    if x.ndim == 1:
        raise SLTInputError(f"x must be a batch [n, d_in]; got a single vector of shape {tuple(x.shape)}: "
                            "use x[None] for one sample")
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if x.shape[0] == 0:
        raise SLTInputError("x holds no samples (shape [0, …]); select at least one sample")
    if d_in is not None and x.shape[1] != d_in:
        raise SLTInputError(f"x has {x.shape[1]} features per sample but the model's first Linear layer "
                            f"expects {d_in}; pass x as [n, {d_in}]")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).any(1).nonzero().flatten()
        raise SLTInputError(f"x contains NaN or inf in {len(bad)} samples (first rows: {bad[:5].tolist()}); "
                            "clean them before computing SLTs")
    return x


def resolve_device(device, model: nn.Module | None = None) -> torch.device:
    """``device`` as a ``torch.device`` (None: the model's); unknown, ``meta`` and absent CUDA are errors."""
    if device is None:
        return model_device(model) if model is not None else torch.device("cpu")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise SLTInputError(f"device {device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0' or None "
                            "(the model's device)") from None
    if d.type == "meta":
        raise SLTInputError("device='meta' tensors hold no values, so no SLT can be computed; use 'cpu' or 'cuda'")
    if d.type == "cuda" and not torch.cuda.is_available():
        raise SLTInputError(f"device={device!r} but CUDA is not available on this machine; use device='cpu' "
                            "(or None for the model's device)")
    return d


def check_dtype(dtype) -> None:
    """The compute dtype must be None, ``torch.float32`` or ``torch.float64``."""
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise SLTInputError(f"dtype must be torch.float32 or torch.float64 (or None for x's), got {dtype!r}")


def check_chunk(chunk) -> int:
    """``chunk`` as a positive int."""
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise SLTInputError(f"chunk must be a positive int (samples per chunk), got {chunk!r}")
    return int(chunk)


def resolve_layer(chain, layer) -> int:
    """Layer number ``1..L`` for hidden layers, ``L + 1`` for ``"output"``.

    chain: anything with ``n_hidden`` (a :class:`~slt_widgets.engine.chain_record.Chain`, a
    model reading), or ``L`` itself. layer: see :func:`layer_key`.
    """
    key = layer_key(chain, layer)
    L = _n_hidden(chain)
    return L + 1 if key == "output" else key


def layer_key(chain, layer, allow: tuple = (), hint: str = ""):
    """The one reading of a layer in the package: ``layer`` → an int ``1..L``, ``"output"``, or one of
    the extra names in ``allow`` (``"input"`` where the input features count as a layer).

    chain: anything with ``n_hidden``, or ``L`` itself. layer: ``1..L`` (ints, numpy ints; not the text
    ``"2"``, which would key a cache apart from ``2``), ``"HL1".."HLL"``, ``"output"``/``"out"`` (any case
    and spacing). Anything else raises
    :class:`~slt_widgets.engine.errors.SLTLayerError` (an ``SLTInputError`` and a ``KeyError``)
    listing the choices; ``hint`` is added to its message.
    """
    L = _n_hidden(chain)
    parsed = layer
    if isinstance(layer, str):
        key = layer.strip().lower()
        extras = {a.lower(): a for a in allow}
        if key in ("output", "out"):
            return "output"
        if key in extras:
            return extras[key]
        if key.startswith("hl") and key[2:].isdigit():
            parsed = int(key[2:])
    if isinstance(parsed, (int, np.integer)) and not isinstance(parsed, (bool, np.bool_)) and 1 <= int(parsed) <= L:
        return int(parsed)
    names = ", ".join([*allow, *(layer_label(k) for k in range(1, L + 1)), "output"])
    extra = "".join(f", and {a!r}" for a in allow)
    raise SLTLayerError(f"layer {layer!r} does not exist: layer must be 'output' or a hidden layer, an int 1..{L} or 'HLk' "
                        f"(this model has hidden layers 1..{L}, the k-th nonlinearity's output{extra}); choose one "
                        f"of {names}"
                        + (f" ({hint})" if hint else ""))


def _n_hidden(chain) -> int:
    return int(chain) if isinstance(chain, (int, np.integer)) else chain.n_hidden


def resolve_nodes(nodes, width: int) -> np.ndarray | None:
    """Node indices ``[r]`` from an int, sequence, slice or bool mask; None keeps all rows."""
    if nodes is None:
        return None
    if isinstance(nodes, slice):
        idx = np.arange(width)[nodes]
    else:
        arr = np.asarray(nodes.cpu() if isinstance(nodes, torch.Tensor) else nodes)
        if arr.size == 0:
            raise SLTInputError("nodes selects no node; pass None for all nodes")
        if arr.dtype == bool:
            if arr.shape != (width,):
                raise SLTInputError(f"a boolean node mask must have length {width}, got shape {arr.shape}")
            idx = np.flatnonzero(arr)
        elif np.issubdtype(arr.dtype, np.integer):
            idx = np.atleast_1d(arr).astype(np.int64)
        else:
            raise SLTInputError(f"nodes must be ints, a slice or a boolean mask, got dtype {arr.dtype}")
    if idx.size == 0:
        raise SLTInputError("nodes selects no node; pass None for all nodes")
    if idx.min() < 0 or idx.max() >= width:
        raise SLTInputError(f"node index out of range: this layer has nodes 0..{width - 1}, got "
                            f"{idx.min()}..{idx.max()}")
    return idx


def layer_label(layer) -> str:
    """The one way the package writes a layer (``1..L``, ``"input"``, ``"output"``, ``"HL3"``): ``"input"``,
    ``"HL3"``, ``"output"`` — in widgets, figures, reports and messages alike."""
    if isinstance(layer, str):
        key = layer.strip().lower()
        if key in ("input", "output"):
            return key
        if key == "out":
            return "output"
        if key.startswith("hl") and key[2:].isdigit():
            return f"HL{int(key[2:])}"
        return layer
    return f"HL{int(layer)}"

