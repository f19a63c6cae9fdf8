"""Engine speed and memory, measured side by side in one process (run by hand).

    python benchmarks/bench_slt.py            # full sizes (N = 20,000; a few minutes on 2 cores)
    python benchmarks/bench_slt.py --quick    # smaller N, for a smoke run
    python benchmarks/bench_slt.py --ab 3000 --repeats 9    # only the current against the previous engine

Prints samples/s of the engine against torch.func ``vmap(jacrev, chunk_size=256)``, against one
forward plus one backward per output class, and the achieved GFLOP/s as a fraction
of plain ``torch.mm`` on the same shapes; the same for all hidden layers; time and
peak RSS of ``node_spectra`` (each in a fresh subprocess so peaks don't mix).
Every timing is the median of interleaved repeats, so load on the machine hits all
contestants alike.

Side by side in the same race: the previous engine (``--baseline main``: the ``slt_widgets/engine``
package of that git revision, extracted into a temporary folder and imported as its own package)
and the current engine with its verification switched off, which prints what checking
``W(x)·x + b(x) = model(x)`` on every chunk costs.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import jacrev, vmap

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import slt_widgets as sw  # noqa: E402

D_IN, WIDTH, DEPTH, D_OUT = 253, 256, 5, 40
ROOT = Path(__file__).resolve().parents[1]
OLD = None          # the previous engine package (see load_baseline)


def load_baseline(rev: str):
    """Import ``slt_widgets/engine`` of git revision ``rev`` as the package ``slt_engine_<rev>``
    (the engine imports only within itself, so the extracted folder runs on its own)."""
    tmp = Path(tempfile.mkdtemp(prefix="slt-baseline-"))
    name = "slt_engine_" + "".join(c if c.isalnum() else "_" for c in rev)
    files = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:slt_widgets/engine"],
                           capture_output=True, text=True, check=True).stdout.split()
    (tmp / name).mkdir()
    for f in files:
        if f.endswith(".py"):
            src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:slt_widgets/engine/{f}"],
                                 capture_output=True, text=True, check=True).stdout
            (tmp / name / f).write_text(src)
    sys.path.insert(0, str(tmp))
    return importlib.import_module(name)


@contextlib.contextmanager
def unverified():
    """The current engine with its per-chunk check switched off (to time what the check costs)."""
    reading = importlib.import_module("slt_widgets.engine.chain_reading").ChainReading
    saved = reading.check
    reading.check = lambda self, *a, **k: None
    try:
        yield
    finally:
        reading.check = saved


def _unverified(fn):
    def run():
        with unverified():
            return fn()
    return run


def make_net(batch_norm=False, width=WIDTH, seed=0):
    torch.manual_seed(seed)
    layers, d = [], D_IN
    for _ in range(DEPTH):
        layers += [nn.Linear(d, width)] + ([nn.BatchNorm1d(width)] if batch_norm else []) + [nn.ReLU()]
        d = width
    net = nn.Sequential(*layers, nn.Linear(d, D_OUT))
    if batch_norm:
        net.train()
        with torch.no_grad():
            for _ in range(5):
                net(torch.randn(512, D_IN))
    return net.eval()


def timed(fn):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    del out            # freeing a 6.5 GB result (unmapping its pages) is not part of computing it
    return dt


def race(contestants: dict, repeats: int) -> dict:
    """Run each contestant ``repeats`` times, interleaved; return median seconds."""
    times = {k: [] for k in contestants}
    for _ in range(repeats):
        for k, fn in contestants.items():
            times[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def per_class_backward(net, x):
    """One forward, then one backward per output class (the autograd baseline)."""
    xx = x.detach().requires_grad_(True)
    y = net(xx)
    rows = []
    for k in range(y.shape[1]):
        (g,) = torch.autograd.grad(y[:, k].sum(), xx, retain_graph=k + 1 < y.shape[1])
        rows.append(g)
    return torch.stack(rows, 1)


def mm_same_shapes(n, chunk, dims, rows):
    """The tall multiplies of the engine's chain on random data: the hardware's rate."""
    a = torch.randn(chunk * rows, max(dims))
    ws = [torch.randn(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]
    out = [torch.empty(chunk * rows, w.shape[1]) for w in ws]

    def run():
        for _ in range(n // chunk):
            for w, o in zip(ws, out):
                torch.mm(a[:, : w.shape[0]], w, out=o)
    return run


def output_section(n, repeats, batch_norm):
    net = make_net(batch_norm)
    x = torch.randn(n, D_IN)
    n_ref = min(n, 2000)           # the baselines are slow: time them on a slice, report per sample
    f = lambda v: net(v[None])[0]  # noqa: E731
    from slt_widgets.engine.slt import DEFAULT_CHUNK as chunk
    def streamed():
        for _ in sw.iter_slt(net, x, batch_size=4096, reuse_buffers=True):
            pass

    contestants = {
        "engine": lambda: sw.slt(net, x),
        "engine, check off": _unverified(lambda: sw.slt(net, x)),
        "engine streamed, reused": streamed,
    }
    if OLD is not None:
        contestants["previous engine"] = lambda: OLD.slt(net, x)
    contestants.update({
        "vmap(jacrev)": lambda: vmap(jacrev(f), chunk_size=256)(x[:n_ref]),
        "fwd+per-class bwd": lambda: per_class_backward(net, x[:n_ref]),
        "torch.mm same shapes": mm_same_shapes(n, chunk, [WIDTH] * DEPTH + [D_IN], D_OUT),
    })
    res = race(contestants, repeats)
    rate = {k: (n_ref if k in ("vmap(jacrev)", "fwd+per-class bwd") else n) / v for k, v in res.items()}
    flops = 2.0 * D_OUT * (WIDTH * WIDTH * (DEPTH - 1) + WIDTH * D_IN)
    # accuracy in the same run
    m = sw.slt(net, x[:2000])
    y = net(x[:2000]).detach()
    err32 = ((m.apply(x[:2000]) - y).abs().max() / y.abs().max()).item()
    net64 = make_net(batch_norm).double()
    x64 = x[:500].double()
    m64 = sw.slt(net64, x64)
    y64 = net64(x64).detach()
    err64 = ((m64.apply(x64) - y64).abs().max() / y64.abs().max()).item()
    return {"rates": rate, "gflops": {k: v * flops / 1e9 for k, v in rate.items()
                                      if k not in ("vmap(jacrev)", "fwd+per-class bwd")},
            "err32": err32, "err64": err64}


def hidden_section(n, repeats):
    net = make_net()
    x = torch.randn(n, D_IN)
    n_ref = min(n, 1000)
    chain = sw.engine.to_chain(net)
    acts = [m for _, m in chain.acts]

    def layer_fn(k):
        def f(v):
            h, j = v[None], 0
            for _, mod in chain.modules:
                h = mod(h)
                if j < len(acts) and mod is acts[j]:
                    j += 1
                    if j == k:
                        return h[0]
            return h[0]
        return f

    def per_layer_jacrev():
        for k in range(1, DEPTH + 1):
            vmap(jacrev(layer_fn(k)), chunk_size=256)(x[:n_ref])

    def streamed(reuse=False):
        for _ in sw.engine.iter_slt_layers(net, x, layers=range(1, DEPTH + 1), reuse_buffers=reuse):
            pass

    from slt_widgets.engine.slt import DEFAULT_CHUNK as chunk
    contestants = {"engine (all layers)": lambda: sw.slt_layers(net, x, layers=range(1, DEPTH + 1)),
                   "engine streamed (256/batch)": streamed,
                   "engine streamed, reused buffers": lambda: streamed(True),
                   "same, check off": _unverified(lambda: streamed(True))}
    if OLD is not None:
        def old_streamed():
            for _ in OLD.iter_slt_layers(net, x, layers=range(1, DEPTH + 1), reuse_buffers=True):
                pass
        contestants["previous engine, reused"] = old_streamed
    contestants.update({"per-layer vmap(jacrev)": per_layer_jacrev,
                        # the forward chain's multiplies J_k = W_k J_{k-1} on [chunk·d_in, 256] panels
                        "torch.mm same shapes": mm_same_shapes(n, chunk, [WIDTH] * DEPTH, D_IN)})
    res = race(contestants, repeats)
    return {k: (n_ref if "jacrev" in k else n) / v for k, v in res.items()}


SPECTRA_CHILD = """
import sys, time, json, torch
sys.path.insert(0, {root!r})
import slt_widgets as sw
from benchmarks.bench_slt import make_net
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
net = make_net(); x = torch.randn({n}, 253)
base = status('VmRSS'); t = time.perf_counter()
out = sw.node_spectra(net, x)
dt = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec
peak = status('VmHWM')
print(json.dumps({{"seconds": dt, "extra_rss": peak - base, "nodes": sum(v.sigmas.shape[0] for v in out.values())}}))
"""


def spectra_section(ns):
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    out = {}
    for n in ns:
        p = subprocess.run([sys.executable, "-c", SPECTRA_CHILD.format(root=root, n=n)], capture_output=True,
                           text=True, check=True, cwd=root)
        out[n] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def ab_section(n, repeats):
    """Only the current and the previous engine, interleaved ``repeats`` times: output SLT and the
    all-layer stream (the structure change must not cost speed; node_spectra is left out: its time
    is the eigenvalues', the same code in both)."""
    net = make_net()
    x = torch.randn(n, D_IN)

    def layers(mod):
        def run():
            for _ in mod.iter_slt_layers(net, x[: n // 4], layers=range(1, DEPTH + 1), reuse_buffers=True):
                pass
        return run
    res = race({"new: output SLT": lambda: sw.slt(net, x), "previous: output SLT": lambda: OLD.slt(net, x),
                "new: all layers, streamed": layers(sw.engine), "previous: all layers, streamed": layers(OLD)},
               repeats)
    for what in ("output SLT", "all layers, streamed"):
        new, old = res[f"new: {what}"], res[f"previous: {what}"]
        print(f"  {what:<22} new {new:6.2f} s, previous {old:6.2f} s (medians of {repeats}): new / previous speed "
              f"= {old / new:.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default="main", help="git revision of the previous engine ('' for none)")
    ap.add_argument("--skip-spectra", action="store_true", help="leave out the node_spectra section")
    ap.add_argument("--ab", type=int, default=0, metavar="N",
                    help="only race the current engine against --baseline on N samples, interleaved --repeats times")
    a = ap.parse_args(argv)
    global OLD
    if a.baseline:
        OLD = load_baseline(a.baseline)
    if a.ab:
        if OLD is None:
            ap.error("--ab needs a --baseline revision")
        print(f"A/B against {a.baseline}, N={a.ab}, load average {open('/proc/loadavg').read().split()[0]}")
        ab_section(a.ab, a.repeats)
        return
    n = 4000 if a.quick else 20000
    load = open("/proc/loadavg").read().split()[:3] if Path("/proc/loadavg").exists() else "?"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, net {D_IN}-{WIDTH}x{DEPTH}-{D_OUT}, float32; "
          f"load average at start {' '.join(load)} (other jobs share the machine: read the ratios, not the rates)")
    for bn in (False, True):
        r = output_section(n, a.repeats, bn)
        rates = r["rates"]
        print(f"\n== output-layer SLT, N={n}{' (batch norm)' if bn else ''} ==")
        for k, v in rates.items():
            print(f"  {k:<24} {v:>10,.0f} samples/s   engine/this = {rates['engine'] / v:5.2f}x")
        g = r["gflops"]
        mm = g["torch.mm same shapes"]
        for k in [k for k in g if k != "torch.mm same shapes"]:
            print(f"  {k}: {g[k]:.1f} GFLOP/s = {g[k] / mm:.0%} of torch.mm ({mm:.1f} GFLOP/s) on the same shapes"
                  f"   {rates[k] / rates['vmap(jacrev)']:.2f}x vmap(jacrev, chunk_size=256)")
        print(f"  verification costs {rates['engine, check off'] / rates['engine'] - 1:+.1%} of the output SLT's time")
        # vmap(jacrev) runs these same multiplies, so no engine that runs them beats it by more than this
        print(f"  bound: the multiplies alone at the torch.mm rate are "
              f"{rates['torch.mm same shapes'] / rates['vmap(jacrev)']:.2f}x vmap(jacrev)")
        print(f"  reconstruction error: float32 {r['err32']:.1e} × max|y|, float64 {r['err64']:.1e} relative")
    nh = 2000 if a.quick else 5000
    h = hidden_section(nh, a.repeats)
    print(f"\n== all hidden layers (HL1..HL5), N={nh} ==")
    base = h["per-layer vmap(jacrev)"]
    for k, v in h.items():
        print(f"  {k:<32} {v:>10,.0f} samples/s   ratio to per-layer vmap(jacrev) = {v / base:5.2f}x   "
              f"{v / h['torch.mm same shapes']:4.0%} of the torch.mm rate")
    print(f"  verification costs {h['same, check off'] / h['engine streamed, reused buffers'] - 1:+.1%} of the "
          "reused stream's time")
    if a.skip_spectra:
        return
    ns = [1000, 4000] if a.quick else [4000, 20000]
    print("\n== node_spectra, all 1,280 hidden nodes (fresh process each) ==")
    for n_, r in spectra_section(ns).items():
        print(f"  N={n_:>6}: {r['seconds']:6.1f} s, extra peak RSS {r['extra_rss'] / 2**30:.2f} GiB, {r['nodes']} nodes")


if __name__ == "__main__":
    main()
