"""The chain implementation of :class:`~slt_widgets.engine.reading.ModelReading` (METHODS §1).

For every sample ``x`` and layer ``l`` it returns ``A_l(x)`` and ``c_l(x)`` with
``A_l(x) x + c_l(x) = h_l(x)``, the layer's real activation. The slopes of every nonlinearity come
from the model's real forward pass (never recomputed from folded weights, which flips masks at
pre-activations near zero). For piecewise-linear activations the map is exact; for smooth ones it
is the Jacobian and ``exact`` is False.

Two chain products, both chunked over samples with preallocated outputs:

* one layer (:meth:`ChainReading.slt`): from the layer back to the input,
  ``M ← (M · diag(s_k)) W_k`` — the weights are shared by all samples, so each step is one tall
  ``[chunk·rows, d_k] @ [d_k, d_{k-1}]`` matrix multiply and the cost is proportional to the
  number of selected rows;
* every hidden layer at once (:meth:`ChainReading.slt_layers`, the Gram operands): forward,
  ``J_k = diag(s_k) W_k J_{k-1}``, kept transposed so each step is again one tall multiply
  ``[chunk·F, d_{k-1}] @ W_kᵀ``.

Every chunk's maps are checked against the model's own output (``W(x)·x + b(x) = f(x)``, tolerance
scaled to the dtype); a mismatch raises :class:`~slt_widgets.engine.errors.ChainMismatchError`
naming the module that breaks the chain (the fallback is decided in
:func:`slt_widgets.engine.dispatch.verified`).
"""
from __future__ import annotations

import math
import weakref
import mmap

import numpy as np
import torch
from torch import nn

from .chain_record import Chain, Record, eval_mode, model_record
from .errors import ChainMismatchError
from .hooks import forward_hooks
from .maps import LinearMap
from .reading import DEFAULT_CHUNK, ModelReading, Work
from .validate import as_input, check_dtype, model_device, resolve_device, resolve_layer, resolve_nodes

__all__ = ["ChainReading", "RECORD_BLOCK", "VERIFY_EVERY"]

RECORD_BLOCK = 2048      # samples per forward-record pass
VERIFY_EVERY = 16        # the maps of every 16th sample of each chunk are checked against model(x)


def param_dtype(model: nn.Module, fallback):
    """The dtype of the model's first parameter (``fallback`` for a model without any)."""
    for p in model.parameters():
        return p.dtype
    return fallback


class ChainReading(ModelReading):
    """A model read as a :class:`~slt_widgets.engine.chain_record.Chain` (cached per model by
    :func:`~slt_widgets.engine.chain.to_chain`); the folded weights are cast once per dtype and
    device (:meth:`Chain.cast`). Per-call memory lives in a :class:`Work`."""

    kind = "chain"

    def __init__(self, model: nn.Module, chain: Chain):
        self._model = weakref.ref(model)
        self.chain = chain
        self._transposed: dict = {}
        self._directions: dict = {}

    # ---------------------------------------------------------------- the model's shape
    @property
    def exact(self) -> bool:
        return self.chain.exact

    def n_hidden(self, probe=None) -> int:
        return self.chain.n_hidden

    def widths(self, layers, probe=None) -> tuple[int, dict]:
        return self.chain.d_in, {l: self.chain.layer_width(l) for l in layers}

    def weights(self, dtype, device) -> list:
        """Every block's ``(weight [d_k, d_{k-1}] or None, bias [d_k] or None)`` in ``dtype`` on ``device``."""
        return self.chain.cast(dtype, device)

    def tol(self, dtype) -> float:
        """Relative tolerance of the check: rounding of the chain products and of the model's own
        forward both grow like √(terms summed)."""
        run = param_dtype(self.model, dtype)
        eps = max(torch.finfo(dtype).eps, torch.finfo(run).eps if run.is_floating_point else 0.0)
        return 32 * eps * math.sqrt(max(1, (self.chain.d_in or 1) + sum(self.chain.widths)))

    def inputs(self, x, dtype=None, device=None) -> torch.Tensor:
        """``x`` validated and cast to the compute dtype on the compute device: ``[n, d_in]``."""
        device = resolve_device(device, self.model)
        check_dtype(dtype)
        xt = as_input(x, self.chain.d_in, dtype=dtype, device=device)
        return xt if xt.dtype in (torch.float32, torch.float64) else xt.float()

    def _target(self, layer) -> tuple[int, object]:
        """``(1..L+1, canonical key)`` of ``layer``."""
        t = resolve_layer(self.chain, layer)
        return t, ("output" if t == self.chain.n_hidden + 1 else t)

    # ---------------------------------------------------------------- verification
    def real(self, rec: Record, target: int) -> torch.Tensor:
        """The model's real values ``[n, d]`` of layer ``target`` (1..L+1) from the record."""
        return rec.output if target == self.chain.n_hidden + 1 else rec.hidden[target - 1]

    def check(self, recon: torch.Tensor, real: torch.Tensor, scale: torch.Tensor, rec: Record, x: torch.Tensor,
              target: int, work: Work) -> None:
        """Raise :class:`ChainMismatchError` unless ``|recon − real| ≤ tol · max(scale)`` (all
        ``[m, r]`` or ``[m]``): the reconstruction ``W(x)·x + b(x)`` against the model's real values."""
        err = float((recon - real).abs().max())
        tol = self.tol(recon.dtype)
        bound = tol * float(scale.max()) + torch.finfo(recon.dtype).tiny
        if not err <= bound:                   # NaN fails too
            raise ChainMismatchError(self.diagnose(rec, x, target, err / max(float(scale.max()), 1e-300)))
        work.checked_chunks += 1
        work.checked_samples += recon.shape[0]

    @staticmethod
    def picks(n: int, work: Work) -> slice:
        """Every ``VERIFY_EVERY``-th sample of a chunk of ``n``, starting one further each chunk (so a
        stream checks every position in turn): reading the maps once more costs as much as a tenth
        of the chain's multiplies (memory-bound), a sixteenth of it is within the ≤ 3 % budget."""
        work.turn = (work.turn + 1) % VERIFY_EVERY
        return slice(work.turn % n if n < VERIFY_EVERY else work.turn, None, VERIFY_EVERY)

    def check_rows(self, w, b, x, rec: Record, target: int, rows_t, work: Work) -> None:
        """Check maps ``w [n, r, d_in]``, ``b [n, r]`` of layer ``target`` (rows ``rows_t``) on ``x [n, d_in]``."""
        p = self.picks(x.shape[0], work)
        real = self.real(rec, target)[p]
        real = real if rows_t is None else real[:, rows_t]
        b = b[p]
        recon = torch.baddbmm(b.unsqueeze(2), w[p], x[p].unsqueeze(2)).squeeze(2)
        self.check(recon, real, real.abs() + b.abs(), rec, x, target, work)

    def check_transposed(self, jt, b, x, rec: Record, target: int, work: Work) -> None:
        """Check maps in the forward chain's layout ``Jᵀ [n, d_in, d]`` with biases ``b [n, d]``."""
        p = self.picks(x.shape[0], work)
        real, b = self.real(rec, target)[p], b[p]
        recon = torch.baddbmm(b.unsqueeze(1), x[p].unsqueeze(1), jt[p]).squeeze(1)
        self.check(recon, real, real.abs() + b.abs(), rec, x, target, work)

    def check_major(self, j, major: str, x, rec: Record, target: int, work: Work) -> None:
        """Check node-major ``J [M, n, F]`` or input-major ``J [F, n, M]`` maps along a fixed random
        direction ``u [M]`` of the layer: ``uᵀ(J(x)·x) = uᵀ(h − b)``."""
        p = self.picks(x.shape[0], work)
        real, b = self.real(rec, target)[p], rec.biases[target - 1][p]
        u = self._direction(real.shape[1], real.dtype, real.device)
        j, xp = j[:, p], x[p]
        n = xp.shape[0]
        if major == "node":                    # [M, m·F] → uᵀJ [m, F] → · x
            proj = torch.mv(j.reshape(j.shape[0], -1).t(), u).view(n, -1).mul_(xp).sum(1)
        else:                                  # [F·m, M] → J u [F, m] → · xᵀ
            proj = torch.mv(j.reshape(-1, j.shape[2]), u).view(j.shape[0], n).mul_(xp.t()).sum(0)
        self.check(proj, (real - b) @ u, (real.abs() + b.abs()) @ u.abs(), rec, x, target, work)

    def _direction(self, width: int, dtype, device) -> torch.Tensor:
        key = (width, dtype, device)
        if key not in self._directions:
            g = torch.Generator().manual_seed(width)
            self._directions[key] = (torch.rand(width, generator=g, dtype=torch.float64) + 0.5).to(device, dtype)
        return self._directions[key]

    def diagnose(self, rec: Record, x: torch.Tensor, target: int, rel: float) -> str:
        """Which module breaks the chain: replay the chain's affine maps on the recorded slopes and
        compare every hidden layer with the model's real one."""
        L = self.chain.n_hidden
        tol = self.tol(x.dtype)
        what = "the output" if target == L + 1 else f"hidden layer {target}"
        head = (f"the chain reading of {type(self.model).__name__} does not reproduce {what} of the model "
                f"(max error {rel:.1e} × the layer's scale, tolerance {tol:.1e})")
        h = x
        for k, (w, bias) in enumerate(self.weights(x.dtype, x.device)):
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
            if float((got - real).abs().max()) > tol * scale * 10 or not torch.isfinite(got).all():
                hooks = forward_hooks(self.model)
                hooked = f"; hooks on the model: {'; '.join(hooks)}" if hooks else ""
                return (f"{head}: the first layer that differs is {'the output' if k == L else f'HL{k + 1}'}, "
                        f"computed by {name}{hooked}. Report the model to the maintainers, or pass "
                        "method='general' (torch.func runs the model itself).")
            h = real if k < L else h
        return (f"{head}: every layer of the chain matches the model, so the chain products themselves are "
                "wrong. Pass method='general' (torch.func runs the model itself).")

    # ---------------------------------------------------------------- forward records
    def record(self, x: torch.Tensor, biases: bool = True) -> Record:
        """Forward record of ``x [n, d_in]`` (already in the compute dtype and device); ``biases``:
        also run the bias path."""
        dtype, device = x.dtype, x.device
        rec = model_record(self.model, self.chain, x.to(model_device(self.model)).to(param_dtype(self.model, dtype)))
        cast = lambda t: t if t is None else t.to(device=device, dtype=dtype)  # noqa: E731
        rec.slopes = [cast(s) for s in rec.slopes]
        rec.offsets = [cast(o) for o in rec.offsets]
        rec.hidden = [cast(h) for h in rec.hidden]
        rec.output = cast(rec.output)
        if biases:
            rec.biases = self._bias_path(rec, self.weights(dtype, device))
        return rec

    def records(self, xt: torch.Tensor, chunk: int, biases: bool = True, want: np.ndarray | None = None):
        """Yield ``(start, stop, record)`` per chunk of ``xt [n, d_in]``. The forward pass runs on
        blocks of ``RECORD_BLOCK`` samples, so the chain's chunk size is free to suit the cache
        (recording 8,000 samples: 48 ms in blocks, 59 / 127 ms chunk by chunk at 256 / 32).
        want: optional ``[n]`` bool; chunks (and blocks) without a wanted sample are skipped."""
        n = xt.shape[0]
        block = chunk * max(1, RECORD_BLOCK // chunk)          # whole chunks, however large
        for s0 in range(0, n, block):
            e0 = min(n, s0 + block)
            if want is not None and not want[s0:e0].any():
                continue
            rec = self.record(xt[s0:e0], biases)
            for s in range(s0, e0, chunk):
                e = min(e0, s + chunk)
                if want is None or want[s:e].any():
                    yield s, e, rec.rows(s - s0, e - s0)

    def transposed(self, k: int, dtype, device) -> torch.Tensor:
        """``W_kᵀ`` contiguous (cached): the first layer's broadcast ``W_1ᵀ ⊙ s_1`` over the
        strided view takes 2× as long (6.3 against 3.1 ms per 256-sample chunk)."""
        key = (k, dtype, device)
        if key not in self._transposed:
            self._transposed[key] = self.weights(dtype, device)[k][0].t().contiguous()
        return self._transposed[key]

    @staticmethod
    def _bias_path(rec: Record, weights) -> list[torch.Tensor]:
        """``c_k = s_k ⊙ (W_k c_{k-1} + b_k) + o_k`` from ``c_0 = 0``, ``[n, d_k]`` per layer (cheap),
        then ``c_out = W_out c_L + b_out``."""
        n = rec.output.shape[0]
        out, c = [], None
        for k, (w, b) in enumerate(weights):
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

    # ---------------------------------------------------------------- the verbs
    def slt(self, x, layer="output", nodes=None, *, chunk: int = DEFAULT_CHUNK, dtype=None, device=None,
            work: Work | None = None) -> LinearMap:
        """SLTs of one layer by the backward chain. With a ``work`` that keeps outputs the returned
        map is a view of buffers the next call with at most as many samples overwrites (what
        :func:`~slt_widgets.engine.streaming.iter_slt` does with ``reuse_buffers=True``)."""
        xt = self.inputs(x, dtype, device)
        work = Work() if work is None else work
        target, key = self._target(layer)
        width = self.chain.layer_width(key)
        rows = resolve_nodes(nodes, width)
        r = width if rows is None else len(rows)
        n, d_in = xt.shape
        out_w, out_b = _output_buffers(work, "slt", n * r * d_in, n * r, xt)
        out_w, out_b = out_w.view(n, r, d_in), out_b.view(n, r)
        chunk = max(1, int(chunk))
        rows_t = None if rows is None else torch.as_tensor(rows, device=xt.device)
        with eval_mode(self.model):
            for s, e, rec in self.records(xt, chunk):
                self._backward_chunk(rec, target, rows_t, out_w[s:e], out_b[s:e], work)
                self.check_rows(out_w[s:e], out_b[s:e], xt[s:e], rec, target, rows_t, work)  # W(x)·x + b(x) = model's
        return LinearMap(out_w, out_b, self.exact, key, rows)

    def slt_layers(self, x, layers=None, *, chunk: int = DEFAULT_CHUNK, dtype=None, device=None,
                   work: Work | None = None) -> dict:
        """SLTs of several layers by the forward chain ``J_k = diag(s_k) W_k J_{k-1}``: weight
        ``[n, d_layer, d_in]``, a transposed view of ``[n, d_in, d_layer]`` storage."""
        xt = self.inputs(x, dtype, device)
        work = Work() if work is None else work
        L = self.chain.n_hidden
        targets = sorted({resolve_layer(self.chain, l) for l in self.layer_keys(layers)})
        n, d_in = xt.shape
        outs = {}
        for t in targets:
            w = self.chain.layer_width("output" if t == L + 1 else t)
            ow, ob = _output_buffers(work, t, n * d_in * w, n * w, xt)
            outs[t] = (ow.view(n, d_in, w), ob.view(n, w))
        with eval_mode(self.model):
            for s, e, rec in self.records(xt, chunk):
                part = {t: (o[0][s:e], o[1][s:e]) for t, o in outs.items()}
                self.forward_chunk(rec, xt[s:e], targets, "sample", {t: o[0] for t, o in part.items()}, work)
                for t, (ow, ob) in part.items():
                    ob.copy_(rec.biases[t - 1])
                    self.check_transposed(ow, ob, xt[s:e], rec, t, work)   # W(x)·x + b(x) = the model's values
        return {("output" if t == L + 1 else t): LinearMap(o[0].transpose(1, 2), o[1], self.exact,
                                                           "output" if t == L + 1 else t, None)
                for t, o in outs.items()}

    def activations(self, x, *, chunk: int = 4096, dtype=None, device=None) -> dict:
        xt = self.inputs(x, dtype, device)
        model = self.model
        parts = []
        with eval_mode(model):
            for s in range(0, xt.shape[0], chunk):
                xb = xt[s:s + chunk].to(model_device(model))
                rec = model_record(model, self.chain, xb.to(param_dtype(model, xb.dtype)))   # the real model's values
                parts.append(rec.hidden + [rec.output])
        L = self.chain.n_hidden
        cat = [torch.cat([p[i] for p in parts]) for i in range(L + 1)]
        return {**{k + 1: cat[k] for k in range(L)}, "output": cat[L]}

    def gram_operands(self, x, layers, per: str, *, chunk: int = 128, dtype=None, device=None, want=None,
                      work: Work | None = None):
        xt = self.inputs(x, dtype, device)
        work = Work() if work is None else work
        targets = sorted({resolve_layer(self.chain, l) for l in layers})
        L = self.chain.n_hidden
        with eval_mode(self.model):
            for s, e, rec in self.records(xt, chunk, want=want):
                outs = self.forward_chunk(rec, xt[s:e], targets, per, None, work)   # [M, c, F] or [F, c, M]
                for t, j in outs.items():
                    self.check_major(j, per, xt[s:e], rec, t, work)          # W(x)·x + b(x) = the model's values
                yield s, e, {("output" if t == L + 1 else t): j for t, j in outs.items()}

    # ---------------------------------------------------------------- chain products
    def _backward_chunk(self, rec: Record, target: int, rows_t, out_w: torch.Tensor, out_b: torch.Tensor,
                        work: Work) -> None:
        """Fill ``out_w [n, r, d_in]`` and ``out_b [n, r]`` for layer ``target`` (1..L+1).

        ``M ← (M ⊙ s_k) W_k`` from the target back to the input; the scaling is done in
        place and each product is one tall matrix multiply written into a reused buffer
        (the last one straight into ``out_w``).
        """
        W = self.weights(out_w.dtype, out_w.device)
        L = self.chain.n_hidden
        n, r, d_in = out_w.shape
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
        buffers = _scratch_pair(work, n * r * max(self.chain.widths + [1]), out_w)
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

    def forward_chunk(self, rec: Record, x: torch.Tensor, targets, major: str, dst: dict | None,
                      work: Work) -> dict:
        """Forward chain ``J_k = diag(s_k) W_k J_{k-1}`` for one chunk ``x [n, d_in]``, weights only,
        in a chosen layout.

        major ``"sample"``: ``{k: Jᵀ [n, d_in, M_k]}`` (what :meth:`slt_layers` returns, transposed);
        ``"node"``: ``{k: J [M_k, n, d_in]}`` — each node's ``[n, d_in]`` SLT rows contiguous (Σ_NODES);
        ``"input"``: ``{k: J [d_in, n, M_k]}`` — each input dimension's ``[n, M_k]`` slice contiguous
        (Σ_INPUTS). Each step is one tall multiply written straight in the layout, so no consumer
        needs a transposing copy. dst: ``{k: buffer}`` to write layer k into (the caller's output);
        the other layers go to scratch reused across chunks (see :func:`_major_buffers`).
        """
        W = self.weights(x.dtype, x.device)
        L = self.chain.n_hidden
        n, d_in = x.shape
        last = max(targets)
        dst = dst or {}
        bufs = {**_major_buffers(self.chain, work, last, x, major, skip=frozenset(dst)), **dst}
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
                J = torch.mul(lift(w if node else self.transposed(k - 1, x.dtype, x.device)), sk, out=bufs[k])
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


# --------------------------------------------------------------------------- buffers
def _scratch_pair(work: Work, size: int, like: torch.Tensor):
    """Two reusable scratch buffers (fresh large allocations page-fault on every chunk)."""
    bufs = work.scratch.get("pair")
    if bufs is None or bufs[0].numel() < size or bufs[0].dtype != like.dtype or bufs[0].device != like.device:
        bufs = [torch.empty(size, dtype=like.dtype, device=like.device) for _ in range(2)]
        work.scratch["pair"] = bufs
    return bufs


def _major_buffers(chain: Chain, work: Work, last: int, x: torch.Tensor, major: str, skip=frozenset()) -> dict:
    """Flat scratch per layer up to ``last`` (but the ``skip``ped ones, which the caller provides),
    sized for the largest chunk seen and viewed per chunk (fresh buffers would page-fault on
    every chunk)."""
    n, d_in = x.shape
    L = chain.n_hidden
    widths = {k: chain.layer_width("output" if k == L + 1 else k) for k in range(1, last + 1) if k not in skip}
    key = (major, last, d_in, x.dtype, x.device, skip)
    cached = work.scratch.get("major")
    if cached is None or cached[0] != key or cached[1] < n:
        flat = {k: torch.empty(w * n * d_in, dtype=x.dtype, device=x.device) for k, w in widths.items()}
        work.scratch["major"] = cached = (key, n, flat)
    shape = {"node": lambda w: (w, n, d_in), "input": lambda w: (d_in, n, w), "sample": lambda w: (n, d_in, w)}[major]
    return {k: cached[2][k][: w * n * d_in].view(shape(w)) for k, w in widths.items()}


def _output_buffers(work: Work, key, n_weight: int, n_bias: int, like: torch.Tensor):
    """Flat weight and bias outputs of ``n_weight`` / ``n_bias`` elements: fresh (pre-touched), or
    (with a work that keeps outputs) the kept ones when large enough, which skips the kernel's
    mapping and zeroing of fresh pages altogether (~8 % of an output SLT, ~30 % of all-layer SLTs)."""
    storage = work.storage
    kept = None if storage is None else storage.get(key)
    if (kept is None or kept[0].numel() < n_weight or kept[1].numel() < n_bias or kept[0].dtype != like.dtype
            or kept[0].device != like.device):
        kept = (torch.empty(n_weight, dtype=like.dtype, device=like.device),
                torch.empty(n_bias, dtype=like.dtype, device=like.device))
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
