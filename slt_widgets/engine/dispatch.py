"""Which reading computes a model, and the one place the chain falls back to the general path.

:func:`read_model` reads a model once into a :class:`~slt_widgets.engine.reading.ModelReading`:
the chain (:class:`~slt_widgets.engine.chain_reading.ChainReading`) when
:func:`~slt_widgets.engine.chain.to_chain` can read it, the general ``torch.func`` path
(:class:`~slt_widgets.engine.general.GeneralReading`) otherwise. Both are cached per model
until its structure, tensors or hooks change.

:func:`verified` runs an operation on a reading. The chain checks every chunk against the model's
own output; when the check fails, the operation runs again on the general path if that path is
exact for the model (with an :class:`~slt_widgets.engine.errors.SLTFallbackWarning`), and the model
is marked so that later calls go there directly; otherwise the error names the cause.
"""
from __future__ import annotations

import sys
import warnings
import weakref
from typing import Callable, TypeVar

from torch import nn

from .chain import mark_broken, to_chain
from .chain_reading import ChainReading
from .errors import ChainMismatchError, SLTFallbackWarning, SLTInputError, SLTTypeError
from .general import general_reading
from .maps import LinearMap
from .reading import ModelReading

__all__ = ["read_model", "verified", "check_method", "n_hidden_layers", "METHODS"]

METHODS = ("auto", "chain", "general")
T = TypeVar("T")

_CHAINS: "weakref.WeakKeyDictionary[nn.Module, ChainReading]" = weakref.WeakKeyDictionary()


def read_model(model: nn.Module, method: str = "auto") -> ModelReading:
    """The reading of ``model`` the engine computes through.

    method ``"auto"``: the chain when the model reads as one (``nn.Sequential`` MLPs, custom
    forwards that ``torch.fx`` traces to a chain; no hooks), else the general path; ``"chain"``:
    the chain or :class:`~slt_widgets.engine.errors.UnsupportedModelError` naming why not;
    ``"general"``: the ``torch.func`` path for any model.
    """
    check_method(method)
    if not isinstance(model, nn.Module):
        raise SLTTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if method == "general":
        return general_reading(model)
    try:
        chain = to_chain(model)              # cached per model until it changes
    except TypeError:                        # UnsupportedModelError: hooks, conv nets, a failed verification …
        if method == "chain":
            raise
        return general_reading(model)
    hit = _CHAINS.get(model)
    if hit is None or hit.chain is not chain:
        hit = _CHAINS[model] = ChainReading(model, chain)
    return hit


def check_method(method) -> None:
    """``method`` must be one of :data:`METHODS`."""
    if method not in METHODS:
        raise SLTInputError(f"method must be 'auto', 'chain' or 'general', got {method!r}")


def verified(model: nn.Module, reading: ModelReading, op: Callable[[ModelReading], T]) -> tuple[T, ModelReading]:
    """``(op(reading), the reading to use next)``.

    A chain reading that fails its check (:class:`ChainMismatchError`) gives way to the general
    path: ``op`` runs again from the start on it, when its maps are exact wherever the chain
    claimed exact ones (or the chain claimed none), with an :class:`SLTFallbackWarning`; the model
    is marked broken for the chain until it changes, and the general reading is returned for the
    rest of a stream. Otherwise the error is raised with the general path's reason, and the model
    is not marked: the next call is refused again, never answered with a wrong map.
    """
    if not isinstance(reading, ChainReading):
        return op(reading), reading
    try:
        return op(reading), reading
    except ChainMismatchError as err:
        mark_broken(model, str(err))
        try:
            general = general_reading(model)
            out = op(general)
        except SLTInputError as e2:
            mark_broken(model, None)
            raise ChainMismatchError(f"{err} The general path cannot take this model either: {e2}") from e2
        maps = out.values() if isinstance(out, dict) else [out]
        exact = all(m.exact for m in maps if isinstance(m, LinearMap))
        if reading.exact and not exact:
            mark_broken(model, None)
            raise ChainMismatchError(f"{err} The general path reads the model as not piecewise linear, so no "
                                     "exact map exists; pass method='general' for its Jacobian "
                                     "linearisation.") from err
        warnings.warn(f"{err} Computed on the general path (torch.func) instead.", SLTFallbackWarning,
                      stacklevel=_outside_engine())
        return out, general


def _outside_engine() -> int:
    """The warning's stack level of the first caller outside ``slt_widgets.engine``."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("slt_widgets.engine"):
        frame, level = frame.f_back, level + 1
    return level


def n_hidden_layers(model: nn.Module) -> int:
    """Number ``L`` of hidden layers (nonlinearities) the engine numbers in ``model``, whichever
    path reads it: the chain for MLPs, the fx trace or the activation modules otherwise."""
    return read_model(model).n_hidden()
