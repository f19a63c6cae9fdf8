"""Read a feed-forward model as a chain (see :mod:`slt_widgets.engine.chain_record`):
``nn.Sequential`` models module by module, custom ``forward`` methods through ``torch.fx``,
after checking for everything a module-by-module reading would miss (hooks, overridden forwards).
"""
from __future__ import annotations

import weakref
from torch import nn

from .chain_record import (AFFINE, PIECEWISE_LINEAR, SMOOTH, SUPPORTED_NAMES, AffineBlock, Chain,  # noqa: F401
                           chain_from_modules, eval_mode)
from .errors import SLTTypeError, UnsupportedModelError
from .fx_chain import fx_to_chain
from .hooks import forward_hooks, overridden_forwards, reading_key, refresh_weights

__all__ = ["Chain", "AffineBlock", "to_chain", "chain_from_modules", "eval_mode", "PIECEWISE_LINEAR", "SMOOTH",
           "mark_broken", "flatten_sequential"]

def flatten_sequential(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Flatten (nested) Sequentials into ``[(qualified_name, module), …]``."""
    if not isinstance(model, nn.Sequential):
        return [("", model)]
    out = []
    # _modules, not named_children(): the latter skips a module instance used twice (a shared ReLU)
    for name, child in model._modules.items():
        if child is None:
            continue
        if isinstance(child, nn.Sequential):
            out.extend((f"{name}.{n}", m) for n, m in flatten_sequential(child))
        else:
            out.append((name, child))
    return out


_READ: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()   # (reading key, Chain)
_BROKEN: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def mark_broken(model: nn.Module, reason: str | None) -> None:
    """Remember that ``model``'s chain reading failed verification against ``model(x)``: until its
    structure, tensors or hooks change, :func:`to_chain` refuses it and the general path takes it.
    reason None forgets the mark."""
    if reason is None:
        _BROKEN.pop(model, None)
    else:
        _BROKEN[model] = (reading_key(model), reason)


def to_chain(model: nn.Module) -> Chain:
    """Read ``model`` as a :class:`Chain`; raises :class:`UnsupportedModelError` naming the module.

    ``nn.Sequential`` models are read directly; other modules, and Sequentials holding a class that
    overrides ``forward``, through ``torch.fx`` (:func:`slt_widgets.engine.fx_chain.fx_to_chain`).
    A model with forward hooks or pre-hooks (its own or global ones) is no chain: its hooks change
    what it computes, and only the general path runs them. The reading is cached per model until its
    structure, parameters, buffers or hooks change (training it further, adding a hook).
    """
    if not isinstance(model, nn.Module):
        raise SLTTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    broken = _BROKEN.get(model)
    if broken is not None:
        if broken[0] == reading_key(model):
            raise UnsupportedModelError(f"{broken[1]} (found when verifying an earlier result)")
        del _BROKEN[model]
    hooks = forward_hooks(model)
    if hooks:
        raise UnsupportedModelError(
            f"{hooks[0]}{f' (and {len(hooks) - 1} more)' if len(hooks) > 1 else ''} changes what the model "
            "computes, and the chain engine reads modules, not hooks. slt(..., method='general') runs the model "
            "with its hooks (torch.func Jacobians); the default method='auto' takes it by itself.")
    key = reading_key(model)
    hit = _READ.get(model)
    if hit is not None and hit[0] == key:          # read once until the model changes
        return hit[1]
    with eval_mode(model):
        refresh_weights(model)         # pruning masks, old-style spectral/weight norm: the weight forward uses
    mods = flatten_sequential(model)
    custom = len(mods) == 1 and mods[0][1] is model and not isinstance(model, AFFINE + PIECEWISE_LINEAR + SMOOTH)
    if custom or overridden_forwards(model, AFFINE + PIECEWISE_LINEAR + SMOOTH):
        chain = fx_to_chain(model)          # custom forward: read the traced graph
    else:
        chain = chain_from_modules(mods)
    _READ[model] = (key, chain)
    return chain


