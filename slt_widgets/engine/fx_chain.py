"""Read custom ``nn.Module`` MLPs through ``torch.fx`` as the engine's :class:`Chain`.

A user's ``forward`` calling ``F.relu``, ``torch.flatten``, ``x.view(...)``,
``F.linear``, ``F.dropout`` or batch norm is traced once (eval mode) and, when the
input-dependent part of the graph is a straight line of affine steps and
elementwise activations, turned into the same ``(name, module)`` list an
``nn.Sequential`` gives: functional calls become equivalent eval-mode modules
(``F.relu`` → ``nn.ReLU()``, ``F.linear(x, w, b)`` → a ``Linear`` holding ``w, b``,
``x * c + d`` → a diagonal ``Linear``), so the fast mask-chain path runs unchanged.
Anything else (residual additions, convolutions, pooling, several inputs) raises
:class:`UnsupportedModelError` and ``slt`` takes the general ``torch.func`` path.

Hidden layer ``k`` is the output of the ``k``-th elementwise nonlinearity in fx
(call) order, module or function alike.
"""
from __future__ import annotations

import operator
import os
import traceback
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from .chain_record import AFFINE, PIECEWISE_LINEAR, SMOOTH, Chain, chain_from_modules, eval_mode, forward_record
from .errors import UnsupportedModelError
from .hooks import structure_key, tensor_key

__all__ = ["fx_to_chain", "trace_model", "Traced", "refuse_recurrent", "activation_of", "user_line",
           "Abs", "structure_key"]

RECURRENT = (nn.RNNBase, nn.RNNCellBase)
DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
                 torch.dropout, torch.alpha_dropout, torch.feature_dropout}
FLATTEN_FUNCS = {torch.flatten, torch.reshape}
FLATTEN_METHODS = {"view", "reshape", "flatten", "contiguous"}
META_METHODS = {"size", "dim"}
ELEMENTWISE_AFFINE = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.pos,
                      torch.add, torch.sub, torch.mul, torch.div, torch.neg}
ELEMENTWISE_AFFINE_METHODS = {"add", "sub", "mul", "div", "neg"}
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


class Abs(nn.Module):
    """``|x|`` as a module (``torch.abs`` in a traced forward): piecewise linear, so exact."""

    piecewise_linear = True

    def forward(self, x):
        return torch.abs(x)


# --------------------------------------------------------------------------- activations
def _arg(node: fx.Node, pos: int, name: str, default):
    """Argument ``pos`` (0 = the tensor) of a call node, positional or keyword."""
    if len(node.args) > pos:
        return node.args[pos]
    return node.kwargs.get(name, default)


def _prelu(node, gm):
    w = _arg(node, 1, "weight", None)
    if not (isinstance(w, fx.Node) and w.op == "get_attr"):
        return None
    weight = _fetch(gm, w.target)
    m = nn.PReLU(weight.numel(), device="meta")
    m.weight = weight if isinstance(weight, nn.Parameter) else nn.Parameter(weight, requires_grad=False)
    return m


def _clamp(node, gm):
    lo, hi = _arg(node, 1, "min", None), _arg(node, 2, "max", None)
    if isinstance(lo, fx.Node) or isinstance(hi, fx.Node):
        return None
    if lo == 0 and hi is None:
        return nn.ReLU()
    if lo is not None and hi is not None:
        return nn.Hardtanh(float(lo), float(hi))
    return None


_FUNCTION_ACTS = {
    F.relu: lambda n, g: nn.ReLU(), torch.relu: lambda n, g: nn.ReLU(), F.relu6: lambda n, g: nn.ReLU6(),
    F.leaky_relu: lambda n, g: nn.LeakyReLU(_arg(n, 1, "negative_slope", 0.01)),
    F.hardtanh: lambda n, g: nn.Hardtanh(_arg(n, 1, "min_val", -1.0), _arg(n, 2, "max_val", 1.0)),
    F.elu: lambda n, g: nn.ELU(_arg(n, 1, "alpha", 1.0)), F.celu: lambda n, g: nn.CELU(_arg(n, 1, "alpha", 1.0)),
    F.selu: lambda n, g: nn.SELU(), F.silu: lambda n, g: nn.SiLU(), F.mish: lambda n, g: nn.Mish(),
    F.gelu: lambda n, g: nn.GELU(approximate=n.kwargs.get("approximate", "none")),
    F.softplus: lambda n, g: nn.Softplus(_arg(n, 1, "beta", 1.0), _arg(n, 2, "threshold", 20.0)),
    torch.sigmoid: lambda n, g: nn.Sigmoid(), F.sigmoid: lambda n, g: nn.Sigmoid(),
    torch.tanh: lambda n, g: nn.Tanh(), F.tanh: lambda n, g: nn.Tanh(),
    torch.abs: lambda n, g: Abs(), F.prelu: _prelu, torch.clamp: _clamp,
}
_METHOD_ACTS = {
    "relu": lambda n, g: nn.ReLU(), "sigmoid": lambda n, g: nn.Sigmoid(), "tanh": lambda n, g: nn.Tanh(),
    "abs": lambda n, g: Abs(), "clamp": _clamp,
}


def activation_of(node: fx.Node, gm: fx.GraphModule) -> nn.Module | None:
    """The elementwise activation a traced node applies (an eval-mode module), or None.

    ``call_module`` nodes return the model's own module; functional calls an equivalent
    fresh module (``F.leaky_relu(x, 0.2)`` → ``nn.LeakyReLU(0.2)``).
    """
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        return m if isinstance(m, PIECEWISE_LINEAR + SMOOTH) else None
    make = None
    if node.op == "call_function":
        make = _FUNCTION_ACTS.get(node.target)
    elif node.op == "call_method":
        make = _METHOD_ACTS.get(node.target)
    if make is None:
        return None
    m = make(node, gm)
    return None if m is None else m.eval()


# --------------------------------------------------------------------------- tracing
def user_line(tb_or_stack) -> str:
    """``file:line: code`` of the innermost frame outside torch and this engine."""
    frames = traceback.extract_tb(tb_or_stack) if not isinstance(tb_or_stack, list) else tb_or_stack
    for fr in reversed(frames):
        path = os.path.abspath(fr.filename)
        if fr.filename.startswith("<") or path.startswith(_TORCH_DIR) or path.startswith(_ENGINE_DIR):
            continue
        return f"{os.path.basename(fr.filename)}:{fr.lineno} `{(fr.line or '').strip()}`"
    return "(line unknown)"


@dataclass
class Traced:
    """``torch.fx`` trace of a model in eval mode (functional dropout removed: eval semantics).

    gm: the GraphModule or None; error: why tracing failed (with the user's line).
    """

    gm: fx.GraphModule | None
    error: str | None


_TRACES: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()
_CHAINS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def trace_model(model: nn.Module) -> Traced:
    """Trace ``model`` with ``torch.fx`` in eval mode (cached until its structure changes)."""
    key = structure_key(model)
    hit = _TRACES.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        with eval_mode(model):
            gm = fx.symbolic_trace(model)
        for node in list(gm.graph.nodes):       # eval semantics: dropout is the identity
            if node.op == "call_function" and node.target in DROPOUT_FUNCS:
                node.replace_all_uses_with(node.args[0])
                gm.graph.erase_node(node)
        gm.recompile()
        result = Traced(gm, None)
    except Exception as e:  # noqa: BLE001 - any trace failure sends the model to the general path
        result = Traced(None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                              f"(at {user_line(e.__traceback__)})")
    _TRACES[model] = (key, result)
    return result


def refuse_recurrent(model: nn.Module) -> None:
    """Raise :class:`UnsupportedModelError` naming the first recurrent module of ``model``."""
    for name, m in model.named_modules():
        if isinstance(m, RECURRENT):
            raise UnsupportedModelError(
                f"module {name or type(model).__name__!r} ({type(m).__name__}) is recurrent: its output depends "
                "on a hidden state carried across time steps, so the model is not feed-forward and has no "
                "per-sample linear map. Use a feed-forward model (Linear/Conv layers and activations).")


# --------------------------------------------------------------------------- chain reader
class _NotChain(Exception):
    pass


def _fetch(gm: nn.Module, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _depends(gm: fx.GraphModule, x_node: fx.Node) -> set:
    """Nodes whose value depends on the input placeholder ``x_node``."""
    dyn = {x_node}
    for node in gm.graph.nodes:
        if node is x_node:
            continue
        if any(a in dyn for a in node.all_input_nodes):
            dyn.add(node)
    return dyn


def _is_meta(node: fx.Node) -> bool:
    """Shape queries (``x.size(0)``, ``x.shape[0]``, ``len(x)``): used only as view/reshape sizes."""
    if node.op == "call_method" and node.target in META_METHODS:
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1] in ("shape", "ndim"):
        return True
    if node.op == "call_function" and node.target is len:
        return True
    return node.op == "call_function" and node.target is operator.getitem and _is_meta(node.args[0])


def _linear_module(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    lin.weight = nn.Parameter(weight.detach(), requires_grad=False)
    if bias is not None:
        lin.bias = nn.Parameter(bias.detach(), requires_grad=False)
    return lin.eval()


class _Values(fx.Interpreter):
    """Runs the graph once on a probe and keeps every node's value."""

    def run_node(self, n):
        out = super().run_node(n)
        self.values[n] = out
        return out


def _substitute(node: fx.Node, values: dict, x, dyn: fx.Node, cast=None):
    """Call ``node``'s target with the input-dependent argument ``dyn`` replaced by ``x``."""
    def val(a):
        if a is dyn:
            return x
        v = values[a]
        return cast(v) if cast is not None and isinstance(v, torch.Tensor) else v
    args = fx.node.map_arg(node.args, val)
    kwargs = fx.node.map_arg(node.kwargs, val)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    return node.target(*args, **kwargs)


def _elementwise_affine(node: fx.Node, values: dict, dyn: fx.Node, d: int, dtype) -> nn.Linear:
    """``x + c``, ``x * c``, ``c - x``, ``x / c`` … as a Linear, read off the basis in float64."""
    if node.target in (operator.truediv, torch.div, "div") and node.args[0] is not dyn:
        raise _NotChain(f"node {node.name!r} divides by an input-dependent value")
    basis = torch.cat([torch.eye(d, dtype=torch.float64), torch.zeros(1, d, dtype=torch.float64)])
    with torch.no_grad():
        y = _substitute(node, values, basis, dyn, cast=lambda t: t.double())
    if not isinstance(y, torch.Tensor) or y.shape != basis.shape:
        raise _NotChain(f"node {node.name!r} ({node.target}) changes the shape: not elementwise")
    b = y[d]
    w = (y[:d] - b).t()
    return _linear_module(w.to(dtype), b.to(dtype))


def _is_elementwise_affine(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in ELEMENTWISE_AFFINE) or \
        (node.op == "call_method" and node.target in ELEMENTWISE_AFFINE_METHODS)


def _step(node: fx.Node, gm: fx.GraphModule, values: dict, dyn: fx.Node, d: int, dtype) -> nn.Module:
    """The engine module equivalent to one input-dependent chain node."""
    if _is_elementwise_affine(node):
        return _elementwise_affine(node, values, dyn, d, dtype)
    if node.args[:1] != (dyn,):
        raise _NotChain(f"node {node.name!r} does not take the running tensor as its first argument")
    act = activation_of(node, gm)
    if act is not None:
        return act
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if isinstance(m, AFFINE):
            return m
        raise _NotChain(f"module {node.target!r} ({type(m).__name__}) is neither affine nor an elementwise "
                        "activation")
    t = node.target
    if (node.op == "call_function" and t in FLATTEN_FUNCS) or (node.op == "call_method" and t in FLATTEN_METHODS):
        return nn.Flatten()       # every chain tensor is [n, d] (checked on the probe): a no-op
    if node.op == "call_function" and t is F.linear:
        w, b = values[node.args[1]] if isinstance(node.args[1], fx.Node) else node.args[1], _arg(node, 2, "bias", None)
        b = values[b] if isinstance(b, fx.Node) else b
        return _linear_module(w, b)
    if node.op == "call_function" and t is F.batch_norm:
        mean, var = (values[a] if isinstance(a, fx.Node) else a for a in node.args[1:3])
        w, b = (_arg(node, i, k, None) for i, k in ((3, "weight"), (4, "bias")))
        w, b = (values[a] if isinstance(a, fx.Node) else a for a in (w, b))
        if _arg(node, 5, "training", False) or mean is None or var is None:
            raise UnsupportedModelError(
                f"node {node.name!r} calls F.batch_norm with batch statistics (training=True or no running "
                "stats): the output of one sample depends on the whole batch, so no per-sample linear map "
                "exists. Pass running_mean/running_var and training=self.training.")
        bn = nn.BatchNorm1d(mean.numel(), eps=_arg(node, 7, "eps", 1e-5), affine=w is not None, device="meta")
        bn.register_buffer("running_mean", mean.detach())
        bn.register_buffer("running_var", var.detach())
        bn.register_buffer("num_batches_tracked", None)
        if w is not None:
            bn.weight = nn.Parameter(w.detach(), requires_grad=False)
            bn.bias = nn.Parameter(b.detach() if b is not None else torch.zeros_like(w), requires_grad=False)
        return bn.eval()
    raise _NotChain(f"node {node.name!r} ({getattr(t, '__name__', t)}) is neither affine nor an elementwise "
                    "activation")


def _first_linear_width(chain_nodes, gm) -> int:
    """``in_features`` of the first Linear on the main line: the probe's width."""
    for node in chain_nodes:
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), nn.Linear):
            return gm.get_submodule(node.target).in_features
        if node.op == "call_function" and node.target is F.linear:
            w = node.args[1]
            if isinstance(w, fx.Node) and w.op == "get_attr":
                return _fetch(gm, w.target).shape[1]
    raise _NotChain("no Linear layer (nn.Linear, or F.linear with a parameter weight) on the main line")


def _read_chain(model: nn.Module, gm: fx.GraphModule) -> Chain:
    places = [n for n in gm.graph.nodes if n.op == "placeholder"]
    used = [n for n in places if n.users]
    if len(used) != 1:
        raise _NotChain(f"forward uses {len(used)} inputs; the chain reader follows one")
    x_node = used[0]
    dyn = _depends(gm, x_node)
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    if not isinstance(out_node.args[0], fx.Node):
        raise _NotChain("forward does not return a single tensor")
    chain_nodes, current = [], x_node
    for node in gm.graph.nodes:
        if node not in dyn or node is x_node or node.op == "output" or _is_meta(node):
            continue
        tensor_args = [a for a in node.all_input_nodes if a in dyn and not _is_meta(a)]
        if tensor_args != [current]:
            raise _NotChain(f"node {node.name!r} ({getattr(node.target, '__name__', node.target)}) takes "
                            f"{len(tensor_args)} input-dependent tensors or branches off the main line "
                            "(a residual connection or a branch)")
        chain_nodes.append(node)
        current = node
    if out_node.args[0] is not current:
        raise _NotChain("the output is not the end of the main line")
    for node in [x_node] + chain_nodes[:-1]:
        if len([u for u in node.users if not _is_meta(u)]) != 1:
            raise _NotChain(f"node {node.name!r} feeds several operations (a branch)")
    d_in = _first_linear_width(chain_nodes, gm)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    probe = torch.randn(3, d_in, dtype=dtype, device=device, generator=torch.Generator(device).manual_seed(0))
    interp = _Values(gm)
    interp.values = {}
    try:
        with torch.no_grad():
            ref = interp.run(probe)
    except Exception as e:  # noqa: BLE001 - shapes the chain reading cannot follow
        raise _NotChain(f"a probe of shape [3, {d_in}] does not run through it ({type(e).__name__}: {e})") from None
    values = interp.values
    steps = []
    for node in chain_nodes:
        v = values[node]
        if not isinstance(v, torch.Tensor) or v.ndim != 2 or v.shape[0] != 3:
            raise _NotChain(f"node {node.name!r} gives shape {tuple(getattr(v, 'shape', ()))}, not [n, d]")
        prev = chain_nodes[chain_nodes.index(node) - 1] if node is not chain_nodes[0] else x_node
        d = values[prev].shape[1] if values[prev].ndim == 2 else d_in
        steps.append((str(node.target) if node.op == "call_module" else node.name,
                      _step(node, gm, values, prev, d, dtype)))
    chain = chain_from_modules(steps, traced=True)
    rec = forward_record(chain, probe)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    if not torch.allclose(rec.output, ref, rtol=tol, atol=tol * float(ref.abs().max().clamp_min(1))):
        raise _NotChain("the chain reading does not reproduce the traced model")
    return chain


def fx_to_chain(model: nn.Module) -> Chain:
    """Read a custom ``nn.Module`` as a :class:`Chain` through ``torch.fx``.

    The chain is cached per model until its structure or any parameter/buffer changes.
    Raises :class:`UnsupportedModelError` (a ``TypeError``) saying why the model is not a
    chain; ``slt`` then takes the general ``torch.func`` path.
    """
    refuse_recurrent(model)
    key = (structure_key(model), tensor_key(model))
    hit = _CHAINS.get(model)
    if hit is not None and hit[0] == key:
        if isinstance(hit[1], Exception):
            raise hit[1]
        return hit[1]
    traced = trace_model(model)
    try:
        if traced.gm is None:
            raise UnsupportedModelError(f"{type(model).__name__} could not be traced by torch.fx ({traced.error}); "
                                        "use slt(..., method='general')")
        with eval_mode(model):
            result = _read_chain(model, traced.gm)
    except _NotChain as e:
        result = UnsupportedModelError(f"{type(model).__name__} is not a chain of affine layers and elementwise "
                                       f"activations: {e}. slt(..., method='general') handles it with torch.func.")
    except UnsupportedModelError as e:
        result = e
    _CHAINS[model] = (key, result)
    if isinstance(result, Exception):
        raise result
    return result
