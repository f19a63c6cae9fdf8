"""The chain data structure and its forward record.

The engine sees a chain model as ``A_1, φ_1, A_2, φ_2, …, φ_L, A_{L+1}`` where every
``A`` is an affine map (Linear, eval-mode BatchNorm1d, Dropout, Identity and
Flatten folded together; possibly the identity) and every ``φ`` an elementwise
nonlinearity. Hidden layer ``k`` (the paper's HLk) is the output of ``φ_k``.
A :class:`Record` is what one real forward pass leaves for the chain products: every
activation's slope, offset and output, and the model's own output.
(:mod:`slt_widgets.engine.chain` reads a model into a :class:`Chain`.)
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import ChainMismatchError, SLTInputError, UnsupportedModelError
from .hooks import hookable, recorder

__all__ = ["Chain", "AffineBlock", "chain_from_modules", "eval_mode", "PIECEWISE_LINEAR", "SMOOTH", "AFFINE",
           "SUPPORTED_NAMES", "Record", "forward_record", "model_record", "ZERO_OFFSET"]

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
    casts: dict = field(default_factory=dict, repr=False, compare=False)   # (dtype, device) → cast weights

    def cast(self, dtype, device) -> list:
        """Every block's ``(weight, bias)`` in ``dtype`` on ``device`` (cast once per reading)."""
        key = (dtype, torch.device(device))
        if key not in self.casts:
            self.casts[key] = [b.cast(dtype, device) for b in self.blocks]
        return self.casts[key]

    @property
    def n_hidden(self) -> int:
        return len(self.acts)

    @property
    def exact(self) -> bool:
        return all(isinstance(m, PIECEWISE_LINEAR) or getattr(m, "piecewise_linear", False) for _, m in self.acts)

    def layer_width(self, layer) -> int:
        return self.d_out if layer == "output" else self.widths[layer - 1]


def _affine_of(name: str, m: nn.Module, d: int | None) -> tuple[torch.Tensor | None, torch.Tensor | None, int | None]:
    """(weight [d_out, d_in] float64 or None, bias [d_out] float64 or None, d_out) of one affine module."""
    if isinstance(m, nn.Linear):
        if d is not None and m.in_features != d:
            raise SLTInputError(f"module {name!r} (Linear) expects {m.in_features} inputs but receives {d}")
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


# --------------------------------------------------------------------------- forward pass
def _slope(act: nn.Module, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """dφ/dz of an elementwise activation at ``z`` ``[n, d]``, matching autograd's convention."""
    if isinstance(act, nn.ReLU):
        return torch.gt(z, 0, out=torch.empty_like(z))   # written as floats: 10× faster than bool → float
    if isinstance(act, nn.LeakyReLU):
        return torch.where(z > 0, torch.ones((), dtype=z.dtype, device=z.device),
                           torch.full((), act.negative_slope, dtype=z.dtype, device=z.device))
    if isinstance(act, nn.PReLU):
        w = act.weight.detach().to(z.dtype)
        return torch.where(z > 0, torch.ones((), dtype=z.dtype, device=z.device), w.expand_as(z))
    if isinstance(act, nn.Hardtanh):  # ReLU6 included
        return ((z > act.min_val) & (z < act.max_val)).to(z.dtype)
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        out = act.forward(zz)          # forward, not __call__: the recording hooks must not fire again
        (g,) = torch.autograd.grad(out, zz, torch.ones_like(out))
    return g.detach()


# Piecewise-linear activations through the origin: h = s ⊙ z exactly (their kernels compute
# z or slope·z, the same float product), so the offset is zero and is not stored.
# (LeakyReLU and PReLU only in float32/float64: in half precision their kernels multiply in float
# and round, which can differ from s·z by an ulp.)
ZERO_OFFSET = (nn.ReLU, nn.LeakyReLU, nn.PReLU)
_FULL = (torch.float32, torch.float64)


@dataclass
class Record:
    """What one forward pass leaves for the chain products (per chunk).

    slopes/offsets: ``L`` tensors ``[n, d_k]`` with ``h_k = s_k ⊙ z_k + o_k`` (``z_k`` the
    pre-activation); an offset is None where it is exactly zero (ReLU, LeakyReLU, PReLU).
    hidden: ``L`` activations ``[n, d_k]``; output ``[n, d_out]``; biases (filled by
    ``ChainReading.record``): ``c_1..c_L, c_out`` ``[n, d]`` of the affine maps.
    """

    slopes: list[torch.Tensor]
    offsets: list[torch.Tensor | None]
    hidden: list[torch.Tensor]
    output: torch.Tensor
    biases: list[torch.Tensor] | None = None

    def rows(self, a: int, b: int) -> "Record":
        """The record of samples ``a:b`` (views)."""
        cut = lambda ts: None if ts is None else [t if t is None else t[a:b] for t in ts]  # noqa: E731
        return Record(cut(self.slopes), cut(self.offsets), cut(self.hidden), self.output[a:b], cut(self.biases))


def _record_act(m: nn.Module, z: torch.Tensor, h: torch.Tensor, rec: Record) -> None:
    s = _slope(m, z, h)
    exact_zero = isinstance(m, nn.ReLU) or (isinstance(m, ZERO_OFFSET) and h.dtype in _FULL)
    rec.slopes.append(s)
    rec.offsets.append(None if exact_zero else h - s * z)
    rec.hidden.append(h)


def forward_record(chain: Chain, x: torch.Tensor) -> Record:
    """Run the chain's modules one by one on ``x [n, d_in]`` (no grad) and record slopes and
    offsets. The model's own ``forward`` (and its hooks) are not called: :func:`model_record`
    runs the real model; this reads a traced chain's equivalent modules."""
    rec = Record([], [], [], None)
    k = 0
    h = x
    with torch.no_grad():
        for name, m in chain.modules:
            if isinstance(m, nn.Flatten) and h.ndim == 2:
                continue
            if k < chain.n_hidden and m is chain.acts[k][1] and name == chain.acts[k][0]:
                z = h
                h = m(z.clone() if getattr(m, "inplace", False) else z)
                _record_act(m, z, h, rec)
                k += 1
            else:
                h = m(h)
    rec.output = h
    return rec


def model_record(model: nn.Module, chain: Chain, x: torch.Tensor) -> Record:
    """Run the real ``model(x)`` on ``x [n, d_in]`` (no grad) and record each activation's input,
    slope, offset and output from temporary hooks on the chain's activation modules.

    The output is what ``model(x)`` returns, whatever its ``forward`` does. In-place activations
    run on a copy of their input (a pre-hook hands them one), so an activation stored for layer k
    is never overwritten by an in-place module after it. A traced chain (custom ``forward``) has
    stand-in activation modules that the model never calls: its slopes come from
    :func:`forward_record` and only the output from the real model.
    """
    if chain.traced:
        rec = forward_record(chain, x)
        with torch.no_grad():
            rec.output = model(x)
        return rec
    rec = Record([], [], [], None)
    inputs: list = []

    def pre(mod, args):
        z = args[0]
        inputs.append(z)
        if getattr(mod, "inplace", False):
            return (z.clone(),) + tuple(args[1:])
        return None

    def post(mod, args, out):
        _record_act(mod, inputs[len(rec.slopes)], out, rec)

    handles = []
    try:
        for m in dict.fromkeys(m for _, m in chain.acts):      # a shared activation gets one pair of hooks
            handles.append(hookable(m).register_forward_pre_hook(recorder(pre)))
            handles.append(m.register_forward_hook(recorder(post)))
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if len(rec.slopes) != chain.n_hidden:
        raise ChainMismatchError(
            f"the model called its activation modules {len(rec.slopes)} times, but its chain reading has "
            f"{chain.n_hidden} hidden layers: its forward does not run the modules in the order they are listed")
    if not isinstance(out, torch.Tensor) or out.shape[:1] != x.shape[:1]:
        raise ChainMismatchError(f"the model returned {type(out).__name__} "
                                 f"{tuple(getattr(out, 'shape', ()))} for input [{x.shape[0]}, {x.shape[1]}]")
    rec.output = out.reshape(out.shape[0], -1)
    return rec
