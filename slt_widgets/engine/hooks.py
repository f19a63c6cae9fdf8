"""What a module-by-module reading of a model would miss: hooks and overridden ``forward`` methods.

The chain path reads a model's modules and folds their weights; it never calls ``model(x)``'s
hooks or a subclass's own ``forward``. Before a model is read as a chain the engine looks for
everything that changes the values ``model(x)`` computes without showing up as a module:

* forward hooks and forward pre-hooks on any submodule (``register_forward_hook``,
  ``register_forward_pre_hook``, with or without kwargs), and the global module hooks
  (``torch.nn.modules.module.register_module_forward_hook`` / ``…_pre_hook``);
* classes that override ``forward`` (or ``__call__``) of ``nn.Sequential`` or of a module the chain
  folds (``class Scaled(nn.Linear)`` whose ``forward`` scales the result).

Pre-hooks that only recompute a weight from other tensors (``torch.nn.utils.prune``, the old-style
``spectral_norm`` and ``weight_norm``) are the exception: the chain reads the weight they compute
(:func:`refresh_weights` runs them first). Backward hooks do not change forward values and are
irrelevant to the chain; the general path refuses them (its Jacobians come from autograd).
"""
from __future__ import annotations

import threading

import torch
from torch import fx, nn
from torch.nn.modules import module as _module
from torch.nn.utils import prune
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

__all__ = ["WEIGHT_HOOKS", "forward_hooks", "backward_hooks", "overridden_forwards", "refresh_weights",
           "hooks_key", "hooks_outside_leaves", "hook_name", "structure_key", "tensor_key", "reading_key", "recorder", "hookable"]

WEIGHT_HOOKS = (prune.BasePruningMethod, SpectralNorm, WeightNorm)


def recorder(fn):
    """``fn`` as one of the engine's own temporary hooks: it acts only in the thread that made it
    (a model shared by threads — Dask's local scheduler, a widget's worker — runs other threads'
    forwards untouched) and the hook scans below do not count it as the user's."""
    owner = threading.get_ident()

    def hook(*args):
        if threading.get_ident() == owner:
            return fn(*args)
        return None
    hook._slt_recorder = True
    return hook


def hookable(m: nn.Module) -> nn.Module:
    """``m`` with the hook dicts torch's ``register_*_hook`` expects: some serialisers (Dask's, for one)
    bring modules back with plain dicts, which the removable handles cannot reference weakly."""
    from collections import OrderedDict
    for attr in ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
                 "_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
        d = m.__dict__.get(attr)
        if d is not None and type(d) is dict:
            m.__dict__[attr] = OrderedDict(d)
    return m


def _users(hooks):
    return [h for h in hooks if not getattr(h, "_slt_recorder", False)]


def hook_name(hook) -> str:
    """A readable name for a hook callable (``scale_output``, ``<lambda>`` …)."""
    fn = getattr(hook, "__func__", hook)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(hook).__name__
    return name


def _label(name: str, m: nn.Module) -> str:
    return f"module {name or '(the model itself)'!r} ({type(m).__name__})"


def forward_hooks(model: nn.Module) -> list[str]:
    """Descriptions of every forward hook and forward pre-hook that can change ``model(x)``:
    the global module hooks and each submodule's own (weight-recomputing pre-hooks excluded)."""
    out = []
    for h in _users(_module._global_forward_pre_hooks.values()):
        out.append(f"global forward pre-hook {hook_name(h)!r} (register_module_forward_pre_hook)")
    for h in _users(_module._global_forward_hooks.values()):
        out.append(f"global forward hook {hook_name(h)!r} (register_module_forward_hook)")
    for name, m in model.named_modules(remove_duplicate=False):
        for h in _users(m._forward_pre_hooks.values()):
            if not isinstance(h, WEIGHT_HOOKS):
                out.append(f"forward pre-hook {hook_name(h)!r} on {_label(name, m)}")
        for h in _users(m._forward_hooks.values()):
            out.append(f"forward hook {hook_name(h)!r} on {_label(name, m)}")
    return list(dict.fromkeys(out))


def backward_hooks(model: nn.Module) -> list[str]:
    """Descriptions of backward hooks (module and global): they change autograd's gradients."""
    out = [f"global backward hook {hook_name(h)!r}" for h in
           list(_module._global_backward_hooks.values()) + list(_module._global_backward_pre_hooks.values())]
    for name, m in model.named_modules(remove_duplicate=False):
        for h in list(m._backward_hooks.values()) + list(m._backward_pre_hooks.values()):
            out.append(f"backward hook {hook_name(h)!r} on {_label(name, m)}")
    return list(dict.fromkeys(out))


def overridden_forwards(model: nn.Module, bases: tuple) -> list[str]:
    """Modules that are instances of ``nn.Sequential`` or of one of ``bases`` but run their own
    ``forward`` / ``__call__`` (a subclass that changes what the base class computes)."""
    out = []
    for name, m in model.named_modules(remove_duplicate=False):
        if "forward" in m.__dict__:
            out.append(f"{_label(name, m)} has its forward replaced on the instance")
            continue
        cls = type(m)
        for base in (nn.Sequential,) + tuple(bases):
            if isinstance(m, base) and (cls.forward is not base.forward or cls.__call__ is not nn.Module.__call__
                                        or cls._call_impl is not nn.Module._call_impl):
                out.append(f"{_label(name, m)} subclasses nn.{base.__name__} with its own forward")
                break
    return list(dict.fromkeys(out))


def hooks_outside_leaves(model: nn.Module) -> list[str]:
    """Forward hooks a ``torch.fx`` trace would skip: on the model itself, on modules the tracer
    traces through (non-leaf), and every global hook (the traced GraphModule would get those
    once, not per module)."""
    tracer = fx.Tracer()
    out = [f"global forward {'pre-' if pre else ''}hook {hook_name(h)!r}"
           for pre, hooks in ((True, _module._global_forward_pre_hooks), (False, _module._global_forward_hooks))
           for h in _users(hooks.values())]
    for name, m in model.named_modules(remove_duplicate=False):
        if name and tracer.is_leaf_module(m, name):
            continue
        for h in _users(list(m._forward_pre_hooks.values()) + list(m._forward_hooks.values())):
            if not isinstance(h, WEIGHT_HOOKS):
                out.append(f"forward hook {hook_name(h)!r} on {_label(name, m)}")
    return list(dict.fromkeys(out))


def refresh_weights(model: nn.Module) -> None:
    """Run the weight-recomputing pre-hooks (pruning masks, old-style spectral/weight norm) so the
    weight attributes the chain reads are the ones the next forward would use (call in eval mode:
    spectral norm then skips its power iteration, as its forward would)."""
    for m in model.modules():
        for h in m._forward_pre_hooks.values():
            if isinstance(h, WEIGHT_HOOKS):
                h(m, ())


def hooks_key(model: nn.Module) -> tuple:
    """Changes whenever a forward hook is added or removed anywhere (for caches of model readings)."""
    ids = lambda d: tuple(k for k, h in d.items() if not getattr(h, "_slt_recorder", False))  # noqa: E731
    parts = [ids(_module._global_forward_pre_hooks), ids(_module._global_forward_hooks)]
    for m in model.modules():
        parts.append((id(m), ids(m._forward_pre_hooks), ids(m._forward_hooks)))
    return tuple(parts)


def structure_key(model: nn.Module) -> tuple:
    """What a trace depends on: the forward functions, the submodules and their plain settings."""
    parts = [type(model).forward, model.__dict__.get("forward")]
    for name, m in model.named_modules(remove_duplicate=False):
        plain = tuple((k, v) for k, v in vars(m).items()
                      if k != "training" and isinstance(v, (bool, int, float, str, type(None))))
        parts.append((name, id(m), type(m), plain))
    return tuple(parts)


def tensor_key(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place — also through
    ``p.data`` (which bypasses the version counter): each tensor's sum is part of the key."""
    ts = [t for t in list(model.parameters()) + list(model.buffers()) if t is not None]
    with torch.no_grad():
        sums = tuple(torch.stack([t.detach().sum().double() for t in ts]).cpu().tolist()) if ts else ()
    return tuple((id(t), t.data_ptr(), t._version) for t in ts) + sums


def reading_key(model: nn.Module) -> tuple:
    """Everything a reading of ``model`` depends on: structure, tensors and hooks."""
    return structure_key(model), tensor_key(model), hooks_key(model)
