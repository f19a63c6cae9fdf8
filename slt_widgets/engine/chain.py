"""Read a feed-forward model as a chain: affine block, nonlinearity, affine block, …

The engine sees a model as ``A_1, φ_1, A_2, φ_2, …, φ_L, A_{L+1}`` where every
``A`` is an affine map (Linear, eval-mode BatchNorm1d, Dropout, Identity and
Flatten folded together; possibly the identity) and every ``φ`` an elementwise
nonlinearity. Hidden layer ``k`` (the paper's HLk) is the output of ``φ_k``.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .errors import UnsupportedModelError
from .hooks import forward_hooks, overridden_forwards, reading_key, refresh_weights

__all__ = ["Chain", "AffineBlock", "to_chain", "chain_from_modules", "eval_mode", "PIECEWISE_LINEAR", "SMOOTH"]

AFFINE = (nn.Linear, nn.BatchNorm1d, nn.Dropout, nn.AlphaDropout, nn.Identity, nn.Flatten)
PIECEWISE_LINEAR = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh)
SMOOTH = (nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.Softplus, nn.Mish, nn.CELU, nn.SELU)
SUPPORTED_NAMES = ("Linear, BatchNorm1d, Dropout, Identity, Flatten (affine); ReLU, LeakyReLU, PReLU, "
                   "ReLU6, Hardtanh (exact); Sigmoid, Tanh, GELU, SiLU, ELU, Softplus, Mish, CELU, SELU "
                   "(Jacobian linearisation)")


@dataclass
class AffineBlock:
    """``y = x @ weight.T + bias`` folded from consecutive affine modules (float64).

    weight ``[d_out, d_in]`` or None for the identity; bias ``[d_out]`` or None.
    """

    weight: torch.Tensor | None
    bias: torch.Tensor | None
    modules: tuple[str, ...]

    def cast(self, dtype, device):
        w = None if self.weight is None else self.weight.to(device=device, dtype=dtype)
        b = None if self.bias is None else self.bias.to(device=device, dtype=dtype)
        return w, b


@dataclass
class Chain:
    """A model read as alternating affine blocks and nonlinearities.

    blocks: ``L + 1`` affine blocks; acts: ``L`` activation modules with their
    qualified names; ``d_in``/``widths``/``d_out`` the sizes seen.
    """

    modules: list[tuple[str, nn.Module]]   # flattened (qualified name, module) in call order
    blocks: list[AffineBlock]
    acts: list[tuple[str, nn.Module]]
    d_in: int | None
    widths: list[int]
    d_out: int
    traced: bool = False                   # read through torch.fx (engine/fx_chain.py)

    @property
    def n_hidden(self) -> int:
        return len(self.acts)

    @property
    def exact(self) -> bool:
        return all(isinstance(m, PIECEWISE_LINEAR) or getattr(m, "piecewise_linear", False) for _, m in self.acts)

    def layer_width(self, layer) -> int:
        return self.d_out if layer == "output" else self.widths[layer - 1]


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


def _affine_of(name: str, m: nn.Module, d: int | None) -> tuple[torch.Tensor | None, torch.Tensor | None, int | None]:
    """(weight [d_out, d_in] float64 or None, bias [d_out] float64 or None, d_out) of one affine module."""
    if isinstance(m, nn.Linear):
        if d is not None and m.in_features != d:
            raise ValueError(f"module {name!r} (Linear) expects {m.in_features} inputs but receives {d}")
        w = m.weight.detach().double()
        b = m.bias.detach().double() if m.bias is not None else None
        return w, b, m.out_features
    if isinstance(m, nn.BatchNorm1d):
        if m.running_mean is None or m.running_var is None:
            raise UnsupportedModelError(
                f"module {name!r} (BatchNorm1d) has track_running_stats=False: its eval output depends on "
                "the batch, so no per-sample linear map exists. Build it with track_running_stats=True.")
        scale = (m.running_var.detach().double() + m.eps).rsqrt()
        shift = -m.running_mean.detach().double() * scale
        if m.affine:
            scale = scale * m.weight.detach().double()
            shift = shift * m.weight.detach().double() + m.bias.detach().double()
        return torch.diag(scale), shift, m.num_features
    return None, None, d  # Dropout (eval), Identity, Flatten


def _compose(block: AffineBlock | None, w, b, name) -> AffineBlock:
    if block is None:
        block = AffineBlock(None, None, ())
    W, B = block.weight, block.bias
    if w is not None:
        W = w if W is None else w @ W
        B = None if B is None else w @ B
    if b is not None:
        B = b if B is None else B + b
    return AffineBlock(W, B, block.modules + (name,))


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
    what it computes, and only the general path runs them.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
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
    with eval_mode(model):
        refresh_weights(model)         # pruning masks, old-style spectral/weight norm: the weight forward uses
    mods = flatten_sequential(model)
    custom = len(mods) == 1 and mods[0][1] is model and not isinstance(model, AFFINE + PIECEWISE_LINEAR + SMOOTH)
    if custom or overridden_forwards(model, AFFINE + PIECEWISE_LINEAR + SMOOTH):
        from .fx_chain import fx_to_chain   # custom forward: read the traced graph
        return fx_to_chain(model)
    return chain_from_modules(mods)


def chain_from_modules(mods: list[tuple[str, nn.Module]], traced: bool = False) -> Chain:
    """Fold ``[(name, module), …]`` in call order into a :class:`Chain`."""
    blocks: list[AffineBlock] = []
    acts: list[tuple[str, nn.Module]] = []
    widths: list[int] = []
    current: AffineBlock | None = None
    d = None
    d_in = None
    for pos, (name, m) in enumerate(mods):
        label = name or type(m).__name__
        if isinstance(m, AFFINE):
            w, b, d_out = _affine_of(label, m, d)
            if d_in is None and w is not None:
                d_in = w.shape[1]
            current = _compose(current, w, b, label)
            d = d_out
        elif isinstance(m, PIECEWISE_LINEAR + SMOOTH) or getattr(m, "piecewise_linear", False):
            blocks.append(current or AffineBlock(None, None, ()))
            current = None
            acts.append((label, m))
            if d is None:
                raise UnsupportedModelError(
                    f"activation {label!r} at position {pos} comes before any Linear layer: the engine cannot "
                    "tell its width. Start the model with a Linear layer.")
            widths.append(d)
        else:
            raise UnsupportedModelError(
                f"module {label!r} ({type(m).__name__}) at position {pos} is not supported by the chain engine. "
                f"Supported: {SUPPORTED_NAMES}. For conv nets, residual blocks or custom forward logic use "
                "slt(..., method='general') (torch.func Jacobians); recurrent modules are not feed-forward.")
    blocks.append(current or AffineBlock(None, None, ()))
    if d is None:
        raise UnsupportedModelError("the model has no Linear layer: nothing to linearise")
    return Chain(modules=mods, blocks=blocks, acts=acts, d_in=d_in, widths=widths, d_out=d, traced=traced)


@contextmanager
def eval_mode(model: nn.Module):
    """Run ``model`` in eval mode and restore every submodule's training flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for m, f in flags:
            m.training = f
