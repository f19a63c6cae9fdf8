"""The exact general path: SLTs of any feed-forward torch model through ``torch.func``.

For conv nets, residual blocks, pooling or several inputs the per-sample map is the
Jacobian ``A(x) = ∂h/∂x`` and ``c(x) = h(x) − A(x)·x``. For a network whose every
nonlinearity is piecewise linear (ReLU, LeakyReLU, PReLU, hard tanh, |x|, max-pooling
…) the network *is* this affine map in the linear region around ``x``, so the map is
exact; otherwise it is the tangent-plane linearisation (``exact=False``). Exactness
is decided from the ATen operations the layer really runs (one sample under a
``TorchDispatchMode``), not from module names.

The Jacobian of a chunk is ``jacrev`` of the chunk's output summed over samples
(``torch.func``; vmapped over output rows). Samples are independent in eval mode, so
this equals ``vmap(jacrev(f))`` while running the model on real batches; a check on
the first chunk refuses models that mix the samples of a batch.

Inputs keep their shape: for ``x [n, C, H, W]`` the map is ``weight [n, r, C, H, W]``.
Hidden layer ``k`` is the ``k``-th elementwise nonlinearity's output in ``torch.fx``
order (module or function), flattened: ``r`` counts its ``C·H·W`` values and ``nodes``
selects flattened indices. Models ``torch.fx`` cannot trace number only their
activation *modules*, in call order, found with forward hooks.
"""
from __future__ import annotations

import traceback
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import fx, nn
from torch.func import functional_call, jacrev
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .chain_record import PIECEWISE_LINEAR, SMOOTH, eval_mode
from .errors import SLTInputError, SLTTypeError, UnsupportedModelError
from .grams import gram_operand
from .maps import LinearMap
from .reading import DEFAULT_CHUNK, ModelReading, Work
from .validate import as_input, check_dtype, resolve_device, resolve_layer, resolve_nodes
from .fx_chain import Traced, activation_of, refuse_recurrent, structure_key, trace_model, user_line
from .hooks import backward_hooks, hookable, hooks_key, hooks_outside_leaves, recorder

__all__ = ["GeneralReading", "general_reading", "slt_general", "activations_general", "describe_general", "read_general",
           "GeneralModel", "inspect_ops", "OpReport"]

# ATen operations (overload packet names) that are linear or piecewise linear in their
# input-dependent arguments; everything else that touches the input is treated as smooth.
LINEAR_OPS = frozenset("""
convolution _convolution conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d addmm mm bmm
matmul linear t view _unsafe_view reshape expand expand_as permute transpose add sub rsub neg cat stack slice
select unsqueeze squeeze clone alias detach avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d
adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d _adaptive_avg_pool3d mean sum
_native_batch_norm_legit_no_training constant_pad_nd flatten copy_ contiguous _to_copy to split split_with_sizes
chunk unbind narrow index_select as_strided repeat flip roll reflection_pad1d reflection_pad2d replication_pad1d
replication_pad2d upsample_nearest1d upsample_nearest2d upsample_bilinear2d pixel_shuffle unfold im2col col2im
lift_fresh_copy empty_like zeros_like ones_like new_zeros new_empty fill_ zero_ diagonal squeeze_ unsqueeze_
_reshape_alias mv dot baddbmm addmv einsum trace tensordot embedding
""".split())
PIECEWISE_OPS = frozenset("""
relu relu_ leaky_relu leaky_relu_ hardtanh hardtanh_ relu6 _prelu_kernel prelu max_pool1d max_pool2d max_pool3d
max_pool1d_with_indices max_pool2d_with_indices max_pool3d_with_indices adaptive_max_pool1d adaptive_max_pool2d
adaptive_max_pool3d abs clamp clamp_ clamp_min clamp_max maximum minimum amax amin max min threshold hardshrink
softshrink hardsigmoid where sign sort topk
""".split())
# ops whose result is linear only when at most one factor (and never a divisor) depends on the input
BILINEAR_OPS = frozenset("mul mul_ div div_ addcmul".split())
# batch norm kernels: linear when called with running statistics (argument 5, ``training``, False)
BATCH_NORM_OPS = frozenset("native_batch_norm _native_batch_norm_legit cudnn_batch_norm miopen_batch_norm "
                           "batch_norm _batch_norm_impl_index".split())
SCALAR_OPS = frozenset("_local_scalar_dense is_nonzero item equal".split())   # a tensor read into Python


@dataclass
class OpReport:
    """What one forward pass on one sample did with the input.

    exact: every input-dependent op is linear or piecewise linear; depends: the result
    depends on the input at all; smooth_ops: names of the ops that break exactness.
    """

    exact: bool
    depends: bool
    smooth_ops: list = field(default_factory=list)


class _OpTracker(TorchDispatchMode):
    """Follows which tensors depend on the input and classifies the ops applied to them."""

    def __init__(self, inputs):
        super().__init__()
        self.dyn = {id(t) for t in inputs}
        self.keep = list(inputs)           # keep tensors alive so their ids stay unique
        self.smooth: list[str] = []
        self.scalar_line: str | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        flat_args = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        dyn_args = [a for a in flat_args if id(a) in self.dyn]
        if dyn_args:
            name = func.overloadpacket.__name__
            if name in SCALAR_OPS and self.scalar_line is None:
                self.scalar_line = user_line(traceback.extract_stack())
            elif name in BILINEAR_OPS:
                divisor = name.startswith("div") and len(args) > 1 and isinstance(args[1], torch.Tensor) \
                    and id(args[1]) in self.dyn
                if len(dyn_args) > 1 or divisor:
                    self.smooth.append(name)
            elif name in BATCH_NORM_OPS:
                if len(args) <= 5 or args[5] is not False:
                    self.smooth.append(name)
            elif name not in LINEAR_OPS and name not in PIECEWISE_OPS:
                self.smooth.append(name)
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.dyn.add(id(t))
                    self.keep.append(t)
        return out


def inspect_ops(fn: Callable, inputs: tuple) -> tuple[OpReport, torch.Tensor]:
    """Run ``fn(*inputs)`` once (no grad) under the op tracker → (report, output).

    Raises :class:`UnsupportedModelError` when the input's values are read into Python
    (``if x.sum() > 0``, ``.item()``): data-dependent control flow.
    """
    tracker = _OpTracker(inputs)
    with torch.no_grad(), tracker:
        out = fn(*inputs)
    if tracker.scalar_line is not None:
        raise UnsupportedModelError(
            "the model reads the values of its input into Python (data-dependent control flow such as "
            f"`if x.sum() > 0:` or `.item()`) at {tracker.scalar_line}: the function then changes with the "
            "data, not only its linear pieces. Rewrite it with tensor operations (torch.where, clamp).")
    depends = isinstance(out, torch.Tensor) and id(out) in tracker.dyn
    return OpReport(exact=not tracker.smooth, depends=depends, smooth_ops=sorted(set(tracker.smooth))), out


# --------------------------------------------------------------------------- reading a model
class _Stop(Exception):
    """Raised by a forward hook once the wanted activation has been captured."""


@dataclass
class GeneralModel:
    """A model as the general path sees it.

    gm: the ``torch.fx`` trace (eval mode) or None; trace_error: why tracing failed;
    act_nodes: traced nodes of the numbered nonlinearities (fx path); act_modules:
    ``{qualified name: module}`` of activation modules (hook path, numbered by call order).
    The model itself is held weakly (``model``): the per-model cache must not keep it alive.
    """

    model_ref: "weakref.ref[nn.Module]"
    gm: fx.GraphModule | None
    trace_error: str | None
    act_nodes: list = field(default_factory=list)
    act_modules: dict = field(default_factory=dict)
    _subs: dict = field(default_factory=dict)
    reading: object = field(default=None, repr=False, compare=False)   # its GeneralReading (general_reading)

    @property
    def model(self) -> nn.Module:
        model = self.model_ref()
        if model is None:
            raise SLTInputError("the model of this reading no longer exists (it was deleted); read a live model")
        return model

    @property
    def traced(self) -> bool:
        return self.gm is not None

    def act_label(self, node) -> str:
        act = activation_of(node, self.gm)
        kind = type(act).__name__
        return f"{node.target} ({kind})" if node.op == "call_module" else f"{node.name} ({kind})"

    def sub_module(self, k: int | None) -> nn.Module:
        """The traced graph cut at the ``k``-th nonlinearity (all of it for None)."""
        if k is None:
            return self.gm
        if k not in self._subs:
            g = fx.Graph()
            env = {}
            g.graph_copy(self.gm.graph, env)
            g.output(env[self.act_nodes[k - 1]])
            sub = fx.GraphModule(self.gm, g)
            sub.graph.eliminate_dead_code()
            sub.recompile()
            self._subs[k] = sub
        return self._subs[k]

    def multi_module(self) -> nn.Module:
        """The traced graph returning ``(h_1, …, h_L, output)``."""
        if "all" not in self._subs:
            g = fx.Graph()
            env = {}
            out = g.graph_copy(self.gm.graph, env)
            kept = []
            for n in self.act_nodes:         # a copy at the activation: a later in-place op cannot change it
                with g.inserting_after(env[n]):
                    kept.append(g.call_function(torch.clone, (env[n],)))
            g.output(tuple(kept) + (out,))
            self._subs["all"] = fx.GraphModule(self.gm, g)
        return self._subs["all"]


_READS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def read_general(model: nn.Module) -> GeneralModel:
    """Trace ``model`` (or list its activation modules when tracing fails); cached per structure."""
    if not isinstance(model, nn.Module):
        raise SLTTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    refuse_recurrent(model)
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and not m.track_running_stats:
            raise UnsupportedModelError(
                f"module {name!r} ({type(m).__name__}) has track_running_stats=False: its eval output depends "
                "on the batch, so no per-sample linear map exists. Build it with track_running_stats=True.")
    back = backward_hooks(model)
    if back:
        raise UnsupportedModelError(
            f"{back[0]} changes the gradients autograd returns, so the general path's torch.func Jacobians would "
            "not be the model's. Remove the hook (handle.remove()) for the SLTs, or use a model without it.")
    key = (structure_key(model), hooks_key(model))
    hit = _READS.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    skipped = hooks_outside_leaves(model)
    # a trace runs the graph, not the modules it traced through: their hooks would be skipped
    traced = Traced(None, f"not traced: {skipped[0]} would be skipped by a trace") if skipped else trace_model(model)
    if traced.gm is not None:
        acts = [n for n in traced.gm.graph.nodes if n.op.startswith("call") and activation_of(n, traced.gm) is not None]
        g = GeneralModel(weakref.ref(model), traced.gm, None, act_nodes=acts)
    else:
        mods = {name: m for name, m in model.named_modules() if isinstance(m, PIECEWISE_LINEAR + SMOOTH)}
        g = GeneralModel(weakref.ref(model), None, traced.error, act_modules=mods)
    _READS[model] = (key, g)
    return g


def _hook_calls(g: GeneralModel, run: Callable, z) -> list[str]:
    """Qualified names of the activation modules in the order one forward calls them."""
    calls: list[str] = []
    hooks = [hookable(m).register_forward_hook(recorder(lambda mod, i, o, name=name: calls.append(name)))
             for name, m in g.act_modules.items()]
    try:
        with torch.no_grad():
            run(*z)
    finally:
        for h in hooks:
            h.remove()
    return calls


# --------------------------------------------------------------------------- inputs
def _as_inputs(x, dtype, device) -> tuple[torch.Tensor, ...]:
    """One tensor ``[n, *shape]`` or a tuple of them (several inputs), validated and cast."""
    xs = tuple(x) if isinstance(x, (tuple, list)) and len(x) and all(
        isinstance(t, (torch.Tensor, np.ndarray)) for t in x) else (x,)
    out = []
    for t in xs:
        shape = tuple(t.shape) if isinstance(t, (torch.Tensor, np.ndarray)) else None
        flat = as_input(t, None, dtype=dtype, device=device)    # validation + cast, flattened
        if flat.dtype not in (torch.float32, torch.float64):
            flat = flat.float()
        out.append(flat.reshape(shape) if shape is not None else flat)
    n = {t.shape[0] for t in out}
    if len(n) != 1:
        raise SLTInputError(f"the inputs hold different numbers of samples {sorted(n)}; pass [n, …] each")
    if len({t.dtype for t in out}) != 1:
        out = [t.to(torch.float64) for t in out]
    return tuple(out)


def _param_dtype(model):
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def _runner(module: nn.Module, dtype, device) -> Callable:
    """``module(*z)`` with parameters/buffers cast to ``dtype``/``device`` (the model is not changed)."""
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))
    needs = any(t.device != device or (t.is_floating_point() and t.dtype != dtype) for t in tensors.values())
    if not needs:
        return module
    cast = {k: t.detach().to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
            for k, t in tensors.items()}
    return lambda *z: functional_call(module, cast, z)


def _layer_fn(g: GeneralModel, k: int | None, dtype, device) -> Callable:
    """``f(*z) → [c, d_layer]``: the flattened output (k=None) or hidden layer ``k``."""
    if g.traced:
        run = _runner(g.sub_module(k), dtype, device)
    else:
        run = _runner(g.model, dtype, device)
        if k is not None:
            return _hooked_layer(g, run, k)

    def f(*z):
        out = run(*z)
        return _flat_output(out, z[0].shape[0])
    return f


def _hooked_layer(g: GeneralModel, run: Callable, k: int) -> Callable:
    def f(*z):
        seen, got = [0], []

        def hook(mod, inp, out):
            seen[0] += 1
            if seen[0] == k:
                got.append(out)
                raise _Stop
        hooks = [hookable(m).register_forward_hook(recorder(hook)) for m in g.act_modules.values()]
        try:
            run(*z)
        except _Stop:
            pass
        finally:
            for h in hooks:
                h.remove()
        return _flat_output(got[0], z[0].shape[0])
    return f


def _flat_output(out, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        kind = type(out).__name__
        raise UnsupportedModelError(
            f"the model returns a {kind}, not one tensor: an SLT maps the input to one output tensor. Wrap it "
            f"so forward returns a single tensor (e.g. `return self.net(x)[0]` for a {kind}).")
    if out.ndim == 0 or out.shape[0] != n:
        raise UnsupportedModelError(
            f"the output has shape {tuple(out.shape)} but the input holds {n} samples: the first dimension "
            "must be the batch")
    return out.reshape(n, -1)


# --------------------------------------------------------------------------- Jacobians
def _jacobian_chunk(f: Callable, z: tuple, rows: torch.Tensor | None, row_chunk: int | None):
    """(weights per input ``[c, r, *shape_i]``, output rows ``[c, r]``) of one chunk."""
    def summed(*zz):
        out = f(*zz)
        if rows is not None:
            out = out.index_select(1, rows)
        return out.sum(0), out
    argnums = tuple(range(len(z)))
    try:
        jac, out = jacrev(summed, argnums=argnums, has_aux=True, chunk_size=row_chunk)(*z)
        return [j.movedim(1, 0) for j in jac], out.detach()
    except (UnsupportedModelError, SLTInputError):
        raise
    except (RuntimeError, NotImplementedError):
        pass    # an op without a vmap rule for the row basis: one backward per output row instead
    with torch.enable_grad():
        zz = [t.detach().requires_grad_(True) for t in z]
        out = f(*zz)
        if rows is not None:
            out = out.index_select(1, rows)
        grads = [torch.autograd.grad(out[:, i].sum(), zz, retain_graph=True) for i in range(out.shape[1])]
    return [torch.stack([gr[a] for gr in grads], 1) for a in range(len(z))], out.detach()


def _row_chunk(c: int, d_in: int, r: int, elt: int) -> int | None:
    """Output rows per vmapped backward so one step holds at most ~256 MB of input gradients."""
    per_row = max(1, c * d_in * elt)
    rows = max(1, (256 << 20) // per_row)
    return None if rows >= r else rows


def _checked(f, xs, g: GeneralModel, k) -> tuple[OpReport, torch.Tensor]:
    """Run the layer once on the first sample: data-dependent control flow, output type,
    dependence on the input, and exactness."""
    z1 = tuple(t[:1] for t in xs)
    try:
        report, out = inspect_ops(f, z1)
    except UnsupportedModelError as e:
        if g.trace_error:
            raise UnsupportedModelError(f"{e} (torch.fx could not trace it either: {g.trace_error})") from None
        raise
    except (RuntimeError, TypeError, ValueError, IndexError) as e:
        shapes = ", ".join(str(list(t.shape)) for t in xs)
        raise SLTInputError(f"the model failed on inputs of shape {shapes} (one sample shown as [1, …]): "
                            f"{type(e).__name__}: {e}. Pass x in the shape the model's forward expects.") from e
    what = "output" if k is None else f"hidden layer {k}"
    if not report.depends:
        raise UnsupportedModelError(
            f"the model's {what} does not depend on its input (it is computed from parameters or constants "
            "only, e.g. `return self.bias`): there is no map from the input to explain.")
    return report, out


def _check_independent(f, z, out, rows_t) -> None:
    """Refuse models whose output for one sample changes with the rest of the batch."""
    if z[0].shape[0] < 2:
        return
    with torch.no_grad():
        one = f(*(t[:1] for t in z))
    one = one if rows_t is None else one.index_select(1, rows_t)
    tol = 1e-4 if out.dtype == torch.float32 else 1e-9
    if not torch.allclose(one, out[:1], rtol=tol, atol=tol * float(out.abs().max().clamp_min(1))):
        raise UnsupportedModelError(
            "the model's output for a sample changes with the other samples of the batch (batch statistics "
            "or a reduction over the batch dimension in forward): per-sample linear maps do not exist. Use "
            "running statistics (eval-mode BatchNorm) and keep samples independent.")


class GeneralReading(ModelReading):
    """The general implementation of :class:`~slt_widgets.engine.reading.ModelReading`: a model read
    by :func:`read_general` (cached per model), its maps the ``torch.func`` Jacobians of the layer.
    ``exact`` is decided per call from the operations the layer runs (``LinearMap.exact``)."""

    kind = "general"
    exact = False                    # nothing is claimed before a call has inspected the operations

    def __init__(self, model: nn.Module, g: GeneralModel):
        self._model = weakref.ref(model)
        self.g = g

    def inputs(self, x, dtype=None, device=None) -> tuple[tuple[torch.Tensor, ...], torch.dtype, torch.device]:
        """``(inputs [n, *shape] each, compute dtype, device)`` from ``x`` (one tensor or a tuple)."""
        device = resolve_device(device, self.model)
        check_dtype(dtype)
        xs = _as_inputs(x, dtype, device)
        return xs, xs[0].dtype, device

    def n_hidden(self, probe=None) -> int:
        """Traced models: their numbered nonlinearities. Untraceable ones: the activation modules one
        forward on the first sample of ``probe`` calls (without a probe: the activation modules)."""
        g = self.g
        if g.traced:
            return len(g.act_nodes)
        if probe is None:
            return len(g.act_modules)
        xs, dtype, device = self.inputs(probe)
        with eval_mode(self.model):
            return len(_hook_calls(g, _runner(self.model, dtype, device), tuple(t[:1] for t in xs)))

    def widths(self, layers, probe) -> tuple[int, dict]:
        maps = self.slt_layers(probe, layers)         # one sample is enough: widths do not depend on it
        first = next(iter(maps.values())).weight
        return int(np.prod(first.shape[2:])), {l: m.weight.shape[1] for l, m in maps.items()}

    def slt(self, x, layer="output", nodes=None, *, chunk: int = DEFAULT_CHUNK, dtype=None, device=None,
            work: Work | None = None) -> LinearMap:
        """See :func:`slt_general` (``work`` is not needed here)."""
        g, model = self.g, self.model
        xs, dtype, device = self.inputs(x, dtype, device)
        n = xs[0].shape[0]
        with eval_mode(model):
            if g.traced:
                n_hidden = len(g.act_nodes)
            else:
                n_hidden = len(_hook_calls(g, _runner(model, dtype, device), tuple(t[:1] for t in xs)))
            target = resolve_layer(n_hidden, layer)
            k = None if target == n_hidden + 1 else target
            f = _layer_fn(g, k, dtype, device)
            report, probe = _checked(f, xs, g, k)
            width = probe.shape[1]
            rows = resolve_nodes(nodes, width)
            rows_t = None if rows is None else torch.as_tensor(rows, device=device)
            r = width if rows is None else len(rows)
            d_total = sum(int(np.prod(t.shape[1:])) for t in xs)
            weight = torch.empty((n, r, *xs[0].shape[1:]) if len(xs) == 1 else (n, r, d_total), dtype=dtype,
                                 device=device)
            bias = torch.empty((n, r), dtype=dtype, device=device)
            chunk = max(1, int(chunk))
            row_chunk = _row_chunk(min(chunk, n), d_total, r, weight.element_size())
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                z = tuple(t[s:e] for t in xs)
                jacs, out = _jacobian_chunk(f, z, rows_t, row_chunk)
                if s == 0:
                    _check_independent(f, z, out, rows_t)
                if len(xs) == 1:
                    weight[s:e] = jacs[0]
                    flat_w = weight[s:e].reshape(e - s, r, -1)
                else:
                    flat_w = torch.cat([j.reshape(e - s, r, -1) for j in jacs], 2)
                    weight[s:e] = flat_w
                flat_x = torch.cat([t.reshape(e - s, -1) for t in z], 1)
                bias[s:e] = out - torch.bmm(flat_w, flat_x.unsqueeze(2)).squeeze(2)
        return LinearMap(weight, bias, report.exact, "output" if k is None else k, rows)

    def slt_layers(self, x, layers=None, *, chunk: int = DEFAULT_CHUNK, dtype=None, device=None,
                   work: Work | None = None) -> dict:
        """One :meth:`slt` per layer (default every hidden layer and the output)."""
        if layers is None:
            L = self.n_hidden(x)
            layers = [*range(1, L + 1), "output"]
        return {m.layer: m for m in (self.slt(x, l, chunk=chunk, dtype=dtype, device=device) for l in layers)}

    def activations(self, x, *, chunk: int = 4096, dtype=None, device=None) -> dict:
        """See :func:`activations_general`."""
        g, model = self.g, self.model
        xs, dtype, device = self.inputs(x, dtype, device)
        n = xs[0].shape[0]
        parts: list[list[torch.Tensor]] = []
        with eval_mode(model), torch.no_grad():
            if g.traced:
                run = _runner(g.multi_module(), dtype, device)
            for s in range(0, n, max(1, int(chunk))):
                z = tuple(t[s:s + chunk] for t in xs)
                c = z[0].shape[0]
                if g.traced:
                    outs = run(*z)
                    hidden, out = list(outs[:-1]), outs[-1]
                else:
                    hidden = []
                    hooks = [hookable(m).register_forward_hook(recorder(lambda mod, i, o: hidden.append(o.clone())))  # in-place
                             for m in g.act_modules.values()]
                    try:
                        out = _runner(model, dtype, device)(*z)
                    finally:
                        for h in hooks:
                            h.remove()
                parts.append([_flat_output(h, c) for h in hidden] + [_flat_output(out, c)])
        L = len(parts[0]) - 1
        return {**{k + 1: torch.cat([p[k] for p in parts]) for k in range(L)},
                "output": torch.cat([p[L] for p in parts])}

    def gram_operands(self, x, layers, per: str, *, chunk: int = 128, dtype=None, device=None, want=None,
                      work: Work | None = None):
        """The whole batch in one piece: one :meth:`slt` per layer, flattened to ``[b, M, F]``."""
        if want is not None and not np.asarray(want).any():
            return
        maps = self.slt_layers(x, list(layers), chunk=chunk, dtype=dtype, device=device)
        out = {}
        for layer, m in maps.items():
            w = m.weight.detach().reshape(m.weight.shape[0], m.weight.shape[1], -1)   # [b, M, F]
            out[layer] = gram_operand(w.transpose(1, 2), per)
        n = next(iter(maps.values())).weight.shape[0]
        yield 0, n, out


def general_reading(model: nn.Module) -> GeneralReading:
    """The general reading of ``model`` (one per :func:`read_general` reading, so cached alike)."""
    g = read_general(model)
    if g.reading is None:
        g.reading = GeneralReading(model, g)
    return g.reading


def slt_general(model: nn.Module, x, layer="output", nodes=None, *, chunk: int = 256, dtype=None,
                device=None):
    """SLTs of any feed-forward model (conv nets, residual blocks, pooling, several inputs).

    Parameters
    ----------
    model : ``nn.Module`` whose forward maps a batch to one tensor (evaluated in eval mode,
        not changed).
    x : ``[n, *shape]`` tensor/array (kept in its shape), or a tuple of them for a model with
        several inputs (then the maps act on their flattened concatenation).
    layer : ``"output"`` or hidden layer ``1..L`` (the ``k``-th nonlinearity's output).
    nodes : flattened indices of the layer's outputs (ints, slice or bool mask); cost is
        proportional to their number (Jacobian rows of the selected outputs only).
    chunk : samples per Jacobian chunk. dtype : float32/float64 (default: x's). device :
        where to compute (default: the model's).

    Returns
    -------
    :class:`LinearMap` with weight ``[n, r, *shape]`` (``[n, r, Σ d_i]`` for several inputs)
    and bias ``[n, r]`` such that ``weight · x + bias`` equals the layer's (flattened) output;
    ``exact`` is True when every input-dependent operation is linear or piecewise linear.
    """
    return general_reading(model).slt(x, layer, nodes, chunk=chunk, dtype=dtype, device=device)


def activations_general(model: nn.Module, x, *, chunk: int = 4096, dtype=None, device=None) -> dict:
    """Real activations of every numbered hidden layer and the output, flattened.

    x ``[n, *shape]`` → ``{1: [n, d_1], …, L: [n, d_L], "output": [n, d_out]}`` (eval mode;
    ``d_k`` = the number of values of layer k, e.g. ``C·H·W`` for a conv layer).
    """
    return general_reading(model).activations(x, chunk=chunk, dtype=dtype, device=device)


# --------------------------------------------------------------------------- describe
def _node_label(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(gm.get_submodule(node.target)).__name__})"
    if node.op == "call_method":
        return f"{node.name} (.{node.target}())"
    if node.op == "get_attr":
        return f"{node.target} (parameter)"
    target = getattr(node.target, "__name__", str(node.target))
    mod = getattr(node.target, "__module__", "") or ""
    prefix = "F." if mod.endswith("functional") else ("torch." if mod.startswith("torch") else "")
    return f"{node.name} ({prefix}{target})"


def describe_general(model: nn.Module) -> str:
    """Text listing of a model on the general path: its traced operations with the
    numbers of the hidden layers (``layer=k``) and the output."""
    g = read_general(model)
    name = type(model).__name__
    if not g.traced:
        lines = [f"{name}: general path (torch.func Jacobians); torch.fx could not trace it ({g.trace_error}).",
                 "  Hidden layers are its activation modules, numbered in the order forward calls them "
                 "(functional activations such as F.relu cannot be numbered without a trace):"]
        lines += [f"  {qual} ({type(m).__name__})" for qual, m in g.act_modules.items()] or ["  (none: only "
                                                                                            "layer='output')"]
        lines.append("  exact: decided per call from the operations the model runs (LinearMap.exact)")
        return "\n".join(lines)
    numbers = {n: k for k, n in enumerate(g.act_nodes, start=1)}
    lines = [f"{name}: {len(g.act_nodes)} hidden layers, general path (torch.func Jacobians; read "
             "through torch.fx, not a chain)", "  step  operation"]
    step = 0
    for node in g.gm.graph.nodes:
        if node.op == "placeholder":
            lines.append(f"  input {node.name}")
        elif node.op == "output":
            lines.append(f"  output = {node.args[0]}   layer='output'")
        elif node.op.startswith("call"):
            step += 1
            tag = ""
            if node in numbers:
                act = activation_of(node, g.gm)
                pw = isinstance(act, PIECEWISE_LINEAR) or getattr(act, "piecewise_linear", False)
                tag = f"   HL{numbers[node]} layer={numbers[node]} ({'piecewise linear' if pw else 'smooth'})"
            lines.append(f"  {step:>4}  {_node_label(node, g.gm)}{tag}")
    lines.append("  exact: decided per call from the ATen operations run (LinearMap.exact); max-pooling, |x|, "
                 "clamp are piecewise linear")
    return "\n".join(lines)
