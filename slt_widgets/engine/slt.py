"""Sample-dependent linear transforms (SLTs) of feed-forward networks (METHODS §1).

For every sample ``x`` and layer ``l`` the engine returns ``A_l(x)`` and ``c_l(x)``
with ``A_l(x) x + c_l(x) = h_l(x)``, the layer's real activation. The slopes of
every nonlinearity come from the model's real forward pass (never recomputed from
folded weights, which flips masks at pre-activations near zero). For piecewise-
linear activations the map is exact; for smooth ones it is the Jacobian and
``exact`` is False.

Two chain products, both chunked over samples with preallocated outputs:

* one layer (``slt``): from the layer back to the input,
  ``M ← (M · diag(s_k)) W_k`` — the weights are shared by all samples, so each
  step is one tall ``[chunk·rows, d_k] @ [d_k, d_{k-1}]`` matrix multiply and
  the cost is proportional to the number of selected rows;
* every hidden layer at once (``slt_layers``): forward,
  ``J_k = diag(s_k) W_k J_{k-1}``, kept transposed so each step is again one tall
  multiply ``[chunk·F, d_{k-1}] @ W_kᵀ``.
"""
from __future__ import annotations

import math
import mmap
import warnings
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .chain import eval_mode, mark_broken, to_chain
from .chain_record import ZERO_OFFSET, Record, _slope, forward_record, model_record  # noqa: F401 (re-exported)
from .errors import ChainMismatchError, SLTFallbackWarning, SLTInputError, SLTTypeError
from .general import _hook_count, activations_general, slt_general
from .hooks import forward_hooks
from .maps import LinearMap
from .validate import (as_input, check_chunk, check_dtype, model_device, resolve_device, resolve_layer,  # noqa: F401
                       resolve_nodes)

__all__ = ["LinearMap", "slt", "slt_layers", "activations", "forward_record", "resolve_layer",
           "resolve_nodes", "as_input", "DEFAULT_CHUNK", "resolve_device", "check_dtype", "check_chunk",
           "ChainMismatchError", "fall_back"]

DEFAULT_CHUNK = 256
RECORD_BLOCK = 2048      # samples per forward-record pass
VERIFY_EVERY = 16        # the maps of every 16th sample of each chunk are checked against model(x)


# --------------------------------------------------------------------------- chain products
class _Prepared:
    """Chain + folded weights cast to the compute dtype/device (built once per call)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype, device):
        self.model = model
        self.chain = to_chain(model)
        self.weights = list(self.chain.cast(dtype, device))
        self.exact = self.chain.exact
        self.dtype = dtype
        self.device = device
        run = _param_dtype(model, dtype)
        eps = max(torch.finfo(dtype).eps, torch.finfo(run).eps if run.is_floating_point else 0.0)
        # rounding of the chain products and of the model's own forward both grow like √(terms summed)
        self.tol = 32 * eps * math.sqrt(max(1, (self.chain.d_in or 1) + sum(self.chain.widths)))
        self.checked_chunks = 0                # chunks whose maps were checked against model(x) …
        self.checked_samples = 0               # … and the samples checked in them

    # ---------------------------------------------------------------- verification
    def real(self, rec: Record, target: int) -> torch.Tensor:
        """The model's real values ``[n, d]`` of layer ``target`` (1..L+1) from the record."""
        L = self.chain.n_hidden
        return rec.output if target == L + 1 else rec.hidden[target - 1]

    def check(self, recon: torch.Tensor, real: torch.Tensor, scale: torch.Tensor, rec: Record, x: torch.Tensor,
              target: int) -> None:
        """Raise :class:`ChainMismatchError` unless ``|recon − real| ≤ tol · max(scale)`` (all
        ``[m, r]`` or ``[m]``): the reconstruction ``W(x)·x + b(x)`` against the model's real values."""
        err = float((recon - real).abs().max())
        bound = self.tol * float(scale.max()) + torch.finfo(self.dtype).tiny
        if not err <= bound:                   # NaN fails too
            raise ChainMismatchError(self.diagnose(rec, x, target, err / max(float(scale.max()), 1e-300)))
        self.checked_chunks += 1
        self.checked_samples += recon.shape[0]

    def _picks(self, n: int) -> slice:
        """Every ``VERIFY_EVERY``-th sample of a chunk of ``n``, starting one further each chunk (so a
        stream checks every position in turn): reading the maps once more costs as much as a tenth
        of the chain's multiplies (memory-bound), a sixteenth of it is within the ≤ 3 % budget."""
        self._turn = (getattr(self, "_turn", -1) + 1) % VERIFY_EVERY
        return slice(self._turn % n if n < VERIFY_EVERY else self._turn, None, VERIFY_EVERY)

    def check_rows(self, w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, rec: Record, target: int, rows_t) -> None:
        """Check maps ``w [n, r, d_in]``, ``b [n, r]`` of layer ``target`` (rows ``rows_t``) on ``x [n, d_in]``."""
        p = self._picks(x.shape[0])
        real = self.real(rec, target)[p]
        real = real if rows_t is None else real[:, rows_t]
        b = b[p]
        recon = torch.baddbmm(b.unsqueeze(2), w[p], x[p].unsqueeze(2)).squeeze(2)
        self.check(recon, real, real.abs() + b.abs(), rec, x, target)

    def check_transposed(self, jt: torch.Tensor, b: torch.Tensor, x: torch.Tensor, rec: Record, target: int) -> None:
        """Check maps in the forward chain's layout ``Jᵀ [n, d_in, d]`` with biases ``b [n, d]``."""
        p = self._picks(x.shape[0])
        real, b = self.real(rec, target)[p], b[p]
        recon = torch.baddbmm(b.unsqueeze(1), x[p].unsqueeze(1), jt[p]).squeeze(1)
        self.check(recon, real, real.abs() + b.abs(), rec, x, target)

    def check_major(self, j: torch.Tensor, major: str, x: torch.Tensor, rec: Record, target: int) -> None:
        """Check node-major ``J [M, n, F]`` or input-major ``J [F, n, M]`` maps along a fixed random
        direction ``u [M]`` of the layer: ``uᵀ(J(x)·x) = uᵀ(h − b)``."""
        p = self._picks(x.shape[0])
        real, b = self.real(rec, target)[p], rec.biases[target - 1][p]
        u = self._direction(real.shape[1])
        j, xp = j[:, p], x[p]
        n = xp.shape[0]
        if major == "node":                    # [M, m·F] → uᵀJ [m, F] → · x
            proj = torch.mv(j.reshape(j.shape[0], -1).t(), u).view(n, -1).mul_(xp).sum(1)
        else:                                  # [F·m, M] → J u [F, m] → · xᵀ
            proj = torch.mv(j.reshape(-1, j.shape[2]), u).view(j.shape[0], n).mul_(xp.t()).sum(0)
        self.check(proj, (real - b) @ u, (real.abs() + b.abs()) @ u.abs(), rec, x, target)

    def _direction(self, width: int) -> torch.Tensor:
        cache = self.__dict__.setdefault("_directions", {})
        if width not in cache:
            g = torch.Generator().manual_seed(width)
            cache[width] = (torch.rand(width, generator=g, dtype=torch.float64) + 0.5).to(self.device, self.dtype)
        return cache[width]

    def diagnose(self, rec: Record, x: torch.Tensor, target: int, rel: float) -> str:
        """Which module breaks the chain: replay the chain's affine maps on the recorded slopes and
        compare every hidden layer with the model's real one."""
        L = self.chain.n_hidden
        what = "the output" if target == L + 1 else f"hidden layer {target}"
        head = (f"the chain reading of {type(self.model).__name__} does not reproduce {what} of the model "
                f"(max error {rel:.1e} × the layer's scale, tolerance {self.tol:.1e})")
        h = x
        for k, (w, bias) in enumerate(self.weights):
            pre = h if w is None else h @ w.t()
            if bias is not None:
                pre = pre + bias
            if k == L:
                got, blk = pre, self.chain.blocks[k]
                name = " + ".join(blk.modules) or "the last activation"
                real = rec.output
            else:
                o = rec.offsets[k]
                got = rec.slopes[k] * pre + (0 if o is None else o)
                name = self.chain.acts[k][0]
                blk = self.chain.blocks[k]
                name = f"{' + '.join(blk.modules) or 'identity'} → {name} ({type(self.chain.acts[k][1]).__name__})"
                real = rec.hidden[k]
            scale = float(real.abs().max()) + 1e-30
            if float((got - real).abs().max()) > self.tol * scale * 10 or not torch.isfinite(got).all():
                hooks = forward_hooks(self.model)
                hooked = f"; hooks on the model: {'; '.join(hooks)}" if hooks else ""
                return (f"{head}: the first layer that differs is {'the output' if k == L else f'HL{k + 1}'}, "
                        f"computed by {name}{hooked}. Report the model to the maintainers, or pass "
                        "method='general' (torch.func runs the model itself).")
            h = real if k < L else h
        return (f"{head}: every layer of the chain matches the model, so the chain products themselves are "
                "wrong. Pass method='general' (torch.func runs the model itself).")

    def record(self, x: torch.Tensor, biases: bool = True) -> Record:
        """Forward record of ``x [n, d_in]`` in the compute dtype; ``biases``: also run the bias path
        (the Gram passes need only the slopes)."""
        dev = model_device(self.model)
        rec = model_record(self.model, self.chain, x.to(dev).to(_param_dtype(self.model, x.dtype)))
        cast = lambda t: t if t is None else t.to(device=self.device, dtype=self.dtype)  # noqa: E731
        rec.slopes = [cast(s) for s in rec.slopes]
        rec.offsets = [cast(o) for o in rec.offsets]
        rec.hidden = [cast(h) for h in rec.hidden]
        rec.output = cast(rec.output)
        if biases:
            rec.biases = self._bias_path(rec)
        return rec

    def transposed(self, k: int) -> torch.Tensor:
        """``W_kᵀ`` contiguous (cached): the first layer's broadcast ``W_1ᵀ ⊙ s_1`` over the
        strided view takes 2× as long (6.3 against 3.1 ms per 256-sample chunk)."""
        cache = self.__dict__.setdefault("_transposed", {})
        if k not in cache:
            cache[k] = self.weights[k][0].t().contiguous()
        return cache[k]

    def records(self, xt: torch.Tensor, chunk: int, biases: bool = True):
        """Yield ``(start, stop, record)`` per chunk of ``xt [n, d_in]``. The forward pass runs on
        blocks of ``RECORD_BLOCK`` samples, so the chain's chunk size is free to suit the cache
        (recording 8,000 samples: 48 ms in blocks, 59 / 127 ms chunk by chunk at 256 / 32)."""
        n = xt.shape[0]
        block = chunk * max(1, RECORD_BLOCK // chunk)          # whole chunks, however large
        for s0 in range(0, n, block):
            e0 = min(n, s0 + block)
            rec = self.record(xt[s0:e0], biases)
            for s in range(s0, e0, chunk):
                e = min(e0, s + chunk)
                yield s, e, rec.rows(s - s0, e - s0)

    def _bias_path(self, rec: Record) -> list[torch.Tensor]:
        """``c_k = s_k ⊙ (W_k c_{k-1} + b_k) + o_k`` from ``c_0 = 0``, ``[n, d_k]`` per layer (cheap),
        then ``c_out = W_out c_L + b_out``."""
        n = rec.output.shape[0]
        out, c = [], None
        for k, (w, b) in enumerate(self.weights):
            if c is None:                                      # W_k · 0 = 0: only the bias
                pre = b.expand(n, -1) if b is not None else None
            elif w is None:
                pre = c if b is None else c + b
            else:
                pre = torch.mm(c, w.t()) if b is None else torch.addmm(b, c, w.t())
            if k == len(rec.slopes):                           # the output block
                if pre is None:
                    pre = torch.zeros_like(rec.output)
                out.append(pre)
                break
            s, o = rec.slopes[k], rec.offsets[k]
            c = torch.zeros_like(s) if pre is None else s * pre
            if o is not None:
                c.add_(o)
            out.append(c)
        return out


def _param_dtype(model: nn.Module, fallback):
    for p in model.parameters():
        return p.dtype
    return fallback


def _backward_chunk(prep: _Prepared, rec: Record, target: int, rows: np.ndarray | None,
                    out_w: torch.Tensor, out_b: torch.Tensor) -> None:
    """Fill ``out_w [n, r, d_in]`` and ``out_b [n, r]`` for layer ``target`` (1..L+1).

    ``M ← (M ⊙ s_k) W_k`` from the target back to the input; the scaling is done in
    place and each product is one tall matrix multiply written into a reused buffer
    (the last one straight into ``out_w``).
    """
    W = prep.weights
    L = prep.chain.n_hidden
    n, r, d_in = out_w.shape
    rows_t = None if rows is None else torch.as_tensor(rows, device=out_w.device)
    bias = rec.biases[target - 1]
    out_b.copy_(bias if rows_t is None else bias[:, rows_t])
    if target == L + 1 and W[L][0] is None:     # the model ends with a nonlinearity: output = h_L
        target = L
    if target == L + 1:
        w = W[L][0]
        M = (w if rows_t is None else w[rows_t]).unsqueeze(0).expand(n, -1, -1)  # [n, r, d_L], shared
        k = L
    else:
        k = target
        width = rec.slopes[k - 1].shape[1]
        eye = torch.eye(width, dtype=out_w.dtype, device=out_w.device)
        M = (eye if rows_t is None else eye[rows_t]).unsqueeze(0).expand(n, -1, -1)
    owned = False                     # M may be a view of shared weights: scale out of place once
    buffers = _buffers(prep, n * r * max(prep.chain.widths + [1]), out_w)
    turn = 0
    while k >= 1:
        s = rec.slopes[k - 1].unsqueeze(1)                              # [n, 1, d_k]
        if owned:
            M.mul_(s)
        else:
            M = torch.mul(M, s, out=buffers[turn][: M.numel()].view(M.shape))
            turn ^= 1
            owned = True
        w = W[k - 1][0]
        if w is None:
            k -= 1
            continue
        if k == 1:
            torch.mm(M.reshape(n * r, -1), w, out=out_w.view(n * r, d_in))
            return
        M = torch.mm(M.reshape(n * r, -1), w, out=buffers[turn][: n * r * w.shape[1]].view(n * r, -1)).view(n, r, -1)
        turn ^= 1
        k -= 1
    out_w.copy_(M)


def _buffers(prep: _Prepared, size: int, like: torch.Tensor):
    """Two reusable scratch buffers (fresh large allocations page-fault on every chunk)."""
    bufs = getattr(prep, "_scratch", None)
    if bufs is None or bufs[0].numel() < size or bufs[0].dtype != like.dtype:
        bufs = [torch.empty(size, dtype=like.dtype, device=like.device) for _ in range(2)]
        prep._scratch = bufs
    return bufs


def _prepare(model, x, dtype=None, device=None):
    if not isinstance(model, nn.Module):
        raise SLTTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = resolve_device(device, model)
    check_dtype(dtype)
    chain = to_chain(model)
    xt = as_input(x, chain.d_in, dtype=dtype, device=device)
    if xt.dtype not in (torch.float32, torch.float64):
        xt = xt.float()
    prep = _Prepared(model, xt.dtype, device)
    return prep, xt


def slt(model: nn.Module, x, layer="output", nodes=None, *, chunk: int = DEFAULT_CHUNK,
        dtype=None, device=None, method: str = "auto") -> LinearMap:
    """Sample-dependent linear transforms of one layer.

    Parameters
    ----------
    model : ``nn.Module`` — a (nested) ``nn.Sequential`` of supported modules (see
        :func:`slt_widgets.describe`). Always evaluated in eval mode; it is not changed.
    x : ``[n, d_in]`` tensor or array (``[n, *shape]`` is flattened).
    layer : ``"output"`` or hidden layer ``1..L`` (the k-th nonlinearity's output).
    nodes : optional rows of the layer (ints, slice or bool mask ``[d_layer]``); cost
        scales with their number.
    chunk : samples per chunk of the chain product.
    dtype : compute dtype (default: x's, float32 for non-float input).
    device : where to compute (default: the model's device).

    Returns
    -------
    :class:`LinearMap` with weight ``[n, r, d_in]`` and bias ``[n, r]`` (``r`` = selected
    rows) such that ``weight @ x + bias`` equals the layer's activations.
    """
    if method not in ("auto", "chain", "general"):
        raise SLTInputError(f"method must be 'auto', 'chain' or 'general', got {method!r}")
    check_chunk(chunk)
    if method == "general" or (method == "auto" and not _is_chain(model)):
        return slt_general(model, x, layer=layer, nodes=nodes, chunk=chunk, dtype=dtype, device=device)
    prep, xt = _prepare(model, x, dtype, device)
    try:
        with eval_mode(model):
            return _slt_prepared(prep, xt, layer, nodes, chunk)
    except ChainMismatchError as e:
        return fall_back(model, e, prep.exact, lambda: slt_general(model, x, layer=layer, nodes=nodes, chunk=chunk,
                                                                   dtype=dtype, device=device))


def fall_back(model: nn.Module, err: ChainMismatchError, chain_exact: bool, general):
    """After a failed verification: the general path's result ``general()`` when it is exact (or the
    chain never claimed exactness), with a :class:`SLTFallbackWarning`; otherwise re-raise ``err``
    with the general path's reason. The model is marked so that later calls go to the general path
    directly (until it changes)."""
    mark_broken(model, str(err))          # first: general() may dispatch again (slt_layers, streams)
    try:
        out = general()
    except SLTInputError as e2:
        mark_broken(model, None)
        raise ChainMismatchError(f"{err} The general path cannot take this model either: {e2}") from e2
    maps = out.values() if isinstance(out, dict) else [out]
    exact = all(getattr(m, "exact", True) for m in maps)
    if chain_exact and not exact:
        mark_broken(model, None)
        raise ChainMismatchError(f"{err} The general path reads the model as not piecewise linear, so no exact "
                                 "map exists; pass method='general' for its Jacobian linearisation.") from err
    warnings.warn(f"{err} Computed on the general path (torch.func) instead.", SLTFallbackWarning, stacklevel=3)
    return out


def _is_chain(model) -> bool:
    try:
        to_chain(model)
        return True
    except TypeError:
        return False


def _slt_prepared(prep: _Prepared, xt: torch.Tensor, layer, nodes, chunk: int, storage: dict | None = None) -> LinearMap:
    """:func:`slt` on prepared inputs. storage: a dict the output buffers are kept in and taken
    from on the next call with at most as many samples (the returned map is then a view that the
    next call overwrites: what :func:`iter_slt` does with ``reuse_buffers=True``)."""
    target = resolve_layer(prep.chain, layer)
    width = prep.chain.layer_width("output" if target == prep.chain.n_hidden + 1 else target)
    rows = resolve_nodes(nodes, width)
    r = width if rows is None else len(rows)
    n, d_in = xt.shape
    out_w, out_b = _output_buffers(prep, storage, "slt", n * r * d_in, n * r)
    out_w, out_b = out_w.view(n, r, d_in), out_b.view(n, r)
    chunk = max(1, int(chunk))
    rows_t = None if rows is None else torch.as_tensor(rows, device=prep.device)
    for s, e, rec in prep.records(xt, chunk):
        _backward_chunk(prep, rec, target, rows, out_w[s:e], out_b[s:e])
        prep.check_rows(out_w[s:e], out_b[s:e], xt[s:e], rec, target, rows_t)   # W(x)·x + b(x) = model's
    lay = "output" if target == prep.chain.n_hidden + 1 else target
    return LinearMap(out_w, out_b, prep.exact, lay, rows)


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
    if isinstance(model, nn.Module) and not _is_chain(model):
        L = _hook_count(model, x, dtype, device)
        wanted = list(range(1, L + 1)) + ["output"] if layers is None else list(layers)
        return {lay.layer: lay for lay in (slt_general(model, x, l, chunk=chunk, dtype=dtype, device=device)
                                           for l in wanted)}
    prep, xt = _prepare(model, x, dtype, device)
    try:
        return _slt_layers_prepared(prep, xt, layers, chunk)
    except ChainMismatchError as e:
        return fall_back(model, e, prep.exact, lambda: slt_layers(model, x, layers, chunk=chunk, dtype=dtype,
                                                                  device=device))


def _slt_layers_prepared(prep: _Prepared, xt: torch.Tensor, layers, chunk: int, storage: dict | None = None) -> dict:
    """:func:`slt_layers` on prepared inputs. storage: a dict the output buffers are kept in and
    taken from on the next call with at most as many samples (the returned maps are then views
    that the next call overwrites: what :func:`iter_slt_layers` does with ``reuse_buffers=True``)."""
    L = prep.chain.n_hidden
    wanted = list(range(1, L + 1)) + ["output"] if layers is None else list(layers)
    targets = sorted({resolve_layer(prep.chain, l) for l in wanted})
    n, d_in = xt.shape
    outs = {}
    for t in targets:
        w = prep.chain.layer_width("output" if t == L + 1 else t)
        ow, ob = _output_buffers(prep, storage, t, n * d_in * w, n * w)
        outs[t] = (ow.view(n, d_in, w), ob.view(n, w))
    with eval_mode(prep.model):
        for s, e, rec in prep.records(xt, chunk):
            _forward_chunk(prep, rec, xt[s:e], targets, {t: (o[0][s:e], o[1][s:e]) for t, o in outs.items()})
    return {("output" if t == L + 1 else t): LinearMap(o[0].transpose(1, 2), o[1], prep.exact,
                                                       "output" if t == L + 1 else t, None)
            for t, o in outs.items()}


def _output_buffers(prep: _Prepared, storage: dict | None, key, n_weight: int, n_bias: int):
    """Flat weight and bias outputs of ``n_weight`` / ``n_bias`` elements: fresh (pre-touched), or
    (with a ``storage`` dict) the kept ones when large enough, which skips the kernel's mapping and
    zeroing of fresh pages altogether (~8 % of an output SLT, ~30 % of all-layer SLTs)."""
    kept = None if storage is None else storage.get(key)
    if kept is None or kept[0].numel() < n_weight or kept[1].numel() < n_bias or kept[0].dtype != prep.dtype:
        kept = (torch.empty(n_weight, dtype=prep.dtype, device=prep.device),
                torch.empty(n_bias, dtype=prep.dtype, device=prep.device))
        _pretouch(kept[0])
        if storage is not None:
            storage[key] = kept
    return kept[0][:n_weight], kept[1][:n_bias]


def _pretouch(t: torch.Tensor) -> None:
    """Write one element per memory page of a fresh CPU tensor, up front: the kernel then maps
    and zeroes the pages in one parallel sweep, instead of faulting them in one by one inside
    the matrix multiplies that write them (measured: all-layer SLTs of 5,000 samples, 6.5 GB,
    870–1,160 → 1,320 samples/s)."""
    if t.device.type == "cpu" and t.numel() * t.element_size() >= 1 << 24:
        t[:: max(1, mmap.PAGESIZE // t.element_size())].zero_()


def _forward_chunk(prep: _Prepared, rec: Record, x: torch.Tensor, targets, outs) -> None:
    """Forward chain for one chunk; writes ``Jᵀ [n, d_in, d_k]`` and the biases (from the
    record's bias path) into ``outs`` ``{k: (weight, bias)}``."""
    _forward_chunk_major(prep, rec, x, targets, "sample", {k: o[0] for k, o in outs.items()})
    for k, (ow, ob) in outs.items():
        ob.copy_(rec.biases[k - 1])
        prep.check_transposed(ow, ob, x, rec, k)                  # W(x)·x + b(x) = the model's values


def _forward_chunk_major(prep: _Prepared, rec: Record, x: torch.Tensor, targets, major: str,
                         dst: dict | None = None) -> dict:
    """Forward chain ``J_k = diag(s_k) W_k J_{k-1}`` for one chunk, weights only, in a chosen layout.

    major ``"sample"``: ``{k: Jᵀ [n, d_in, M_k]}`` (what :func:`slt_layers` returns, transposed);
    ``"node"``: ``{k: J [M_k, n, d_in]}`` — each node's ``[n, d_in]`` SLT rows contiguous (Σ_NODES);
    ``"input"``: ``{k: J [d_in, n, M_k]}`` — each input dimension's ``[n, M_k]`` slice contiguous
    (Σ_INPUTS). Each step is one tall multiply written straight in the layout, so no consumer
    needs a transposing copy. dst: ``{k: buffer}`` to write layer k into (the caller's output);
    the other layers go to scratch reused across chunks (see :func:`_major_buffers`).
    """
    W = prep.weights
    L = prep.chain.n_hidden
    n, d_in = x.shape
    last = max(targets)
    dst = dst or {}
    bufs = {**_major_buffers(prep, last, n, d_in, major, skip=frozenset(dst)), **dst}
    node = major == "node"
    # where the sample axis and the node axis sit in each layout, for the broadcasts below
    scale = {"node": lambda s: s.t().unsqueeze(2), "input": lambda s: s.unsqueeze(0),
             "sample": lambda s: s.unsqueeze(1)}[major]            # s_k [n, M_k] → over the layout
    lift = (lambda m: m.unsqueeze(0)) if major == "sample" else (lambda m: m.unsqueeze(1))  # [F, M] → 3-d

    def apply(w, J, out):              # W_k applied to J_{k-1}, written into out
        if node:
            return torch.mm(w, J.reshape(J.shape[0], -1), out=out.view(w.shape[0], -1)).view(out.shape)
        return torch.mm(J.reshape(-1, J.shape[2]), w.t(), out=out.view(-1, w.shape[0])).view(out.shape)

    out = {}
    J = None                                   # None = identity
    for k in range(1, min(last, L) + 1):
        w, _ = W[k - 1]
        sk = scale(rec.slopes[k - 1])
        if w is None:                          # a nonlinearity straight after another (or the input)
            eye = torch.eye(d_in, dtype=sk.dtype, device=sk.device)
            J = torch.mul(lift(eye) if J is None else J, sk, out=bufs[k])
        elif J is None:                        # first layer: diag(s_1) W_1, a broadcast
            J = torch.mul(lift(w if node else prep.transposed(k - 1)), sk, out=bufs[k])
        else:
            J = apply(w, J, bufs[k]).mul_(sk)
        out[k] = J
    if L + 1 in targets:
        w, _ = W[L]
        if w is not None:
            out[L + 1] = apply(w, J, bufs[L + 1])
        else:                                  # the model ends with a nonlinearity: output = h_L
            out[L + 1] = dst[L + 1].copy_(J) if L + 1 in dst else J
    return {k: v for k, v in out.items() if k in targets}


def _major_buffers(prep: _Prepared, last: int, n: int, d_in: int, major: str, skip=frozenset()) -> dict:
    """Flat scratch per layer up to ``last`` (but the ``skip``ped ones, which the caller provides),
    sized for the largest chunk seen and viewed per chunk (fresh buffers would page-fault on
    every chunk)."""
    L = prep.chain.n_hidden
    widths = {k: prep.chain.layer_width("output" if k == L + 1 else k) for k in range(1, last + 1) if k not in skip}
    key = (major, last, d_in, prep.dtype, skip)
    cached = getattr(prep, "_major_scratch", None)
    if cached is None or cached[0] != key or cached[1] < n:
        flat = {k: torch.empty(w * n * d_in, dtype=prep.dtype, device=prep.device) for k, w in widths.items()}
        prep._major_scratch = cached = (key, n, flat)
    shape = {"node": lambda w: (w, n, d_in), "input": lambda w: (d_in, n, w), "sample": lambda w: (n, d_in, w)}[major]
    return {k: cached[2][k][: w * n * d_in].view(shape(w)) for k, w in widths.items()}


def activations(model: nn.Module, x, *, chunk: int = 4096, dtype=None, device=None) -> dict:
    """Real activations of every hidden layer and the output.

    x ``[n, d_in]`` → ``{1: [n, d_1], …, L: [n, d_L], "output": [n, d_out]}`` (eval mode).
    Models off the chain path take ``x [n, *shape]`` and give flattened activations.
    """
    if isinstance(model, nn.Module) and not _is_chain(model):
        return activations_general(model, x, chunk=chunk, dtype=dtype, device=device)
    prep, xt = _prepare(model, x, dtype, device)
    try:
        return _activations_prepared(prep, xt, chunk)
    except ChainMismatchError as e:
        return fall_back(model, e, False, lambda: activations_general(model, x, chunk=chunk, dtype=dtype,
                                                                      device=device))


def _activations_prepared(prep: _Prepared, xt: torch.Tensor, chunk: int) -> dict:
    model = prep.model
    parts = []
    with eval_mode(model):
        for s in range(0, xt.shape[0], chunk):
            xb = xt[s:s + chunk].to(model_device(model))
            rec = model_record(model, prep.chain, xb.to(_param_dtype(model, xb.dtype)))   # the real model's values
            parts.append(rec.hidden + [rec.output])
    L = prep.chain.n_hidden
    cat = [torch.cat([p[i] for p in parts]) for i in range(L + 1)]
    return {**{k + 1: cat[k] for k in range(L)}, "output": cat[L]}
