"""Peak memory of the streamed statistics at N and 10·N samples (run by hand).

    python benchmarks/bench_memory.py            # N = 5,000 / 50,000 (activations), 1,000 / 10,000 (SLT Grams)
    python benchmarks/bench_memory.py --quick    # 10× fewer samples, for a smoke run

The inputs are written once to a ``.npy`` file and opened as ``np.memmap`` in a fresh subprocess
per (statistic, N), so one run's peak cannot hide another's. Each child reports its peak RSS
(``ru_maxrss``) and its RSS before the work started (model built, memmap opened). The printed
ratio ``peak(10·N) / peak(N)`` is the claim: ≈ 1.0 means memory does not grow with N.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

D_IN, K = 253, 40
STATS = {
    # name: (hidden widths, what runs)
    "activation_stats": ((256,) * 5, "moments"),     # CSV, scatter/LDA inputs, Gram of every layer
    "node_spectra": ((64,) * 5, "node"),             # engine.node_spectra, Σ_NODES of layers 2..5 + output
    "streaming_slt_spectra": ((64,) * 5, "grams"),   # engine.stats, Σ_NODES + Σ_INPUTS under a memory budget
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def child(stat: str, path: str, n: int) -> None:
    """Run one statistic over the memmapped file and print a JSON line."""
    import numpy as np
    import torch
    from slt_widgets.engine import node_spectra
    from slt_widgets.engine.stats import streaming_activation_stats, streaming_slt_spectra
    from slt_widgets.models import mlp

    torch.set_num_threads(1)          # the machine is shared; one core keeps the runs comparable
    widths, kind = STATS[stat]
    torch.manual_seed(0)
    model = mlp(D_IN, widths, K).eval()
    x = np.load(path, mmap_mode="r")[:n]
    y = np.arange(n) % K
    before = _rss_mb()
    t = time.perf_counter()
    if kind == "moments":
        out = streaming_activation_stats(model, x, y, batch_size=2048)
        check = float(out["output"].gram.trace())
    elif kind == "node":
        out = node_spectra(model, x, [2, 3, 4, 5, "output"], batch_size=1024)
        check = float(np.nanmean(out[5].auc))
    else:
        out = streaming_slt_spectra(model, x, [2, 3, 4, 5, "output"], batch_size=1024, memory_budget="256MB")
        out2 = streaming_slt_spectra(model, x, [5], per="input", batch_size=1024, memory_budget="256MB")
        check = float(np.nanmean(out[5].auc) + np.nanmean(out2[5].auc))
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"stat": stat, "n": n, "seconds": round(seconds, 2), "rss_before_mb": round(before, 1),
                      "peak_rss_mb": round(peak, 1), "check": check}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10x fewer samples")
    p.add_argument("--stats", nargs="*", default=list(STATS), choices=list(STATS))
    p.add_argument("--child", nargs=3, metavar=("STAT", "PATH", "N"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child[0], a.child[1], int(a.child[2]))
        return
    import numpy as np
    sizes = {"activation_stats": 5000, "node_spectra": 1000, "streaming_slt_spectra": 1000}
    scale = 10 if a.quick else 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        n_max = 10 * max(sizes.values()) // scale
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_max, D_IN))
        rng = np.random.default_rng(0)
        for s in range(0, n_max, 10000):              # written in slices: the parent stays small too
            mm[s:s + 10000] = rng.standard_normal((min(10000, n_max - s), D_IN), dtype=np.float32)
        mm.flush()
        del mm
        rows = []
        for stat in a.stats:
            n = sizes[stat] // scale
            res = []
            for size in (n, 10 * n):
                # one BLAS thread: spinning OpenBLAS threads on a shared 2-core box swamp small runs
                env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
                out = subprocess.run([sys.executable, __file__, "--child", stat, str(path), str(size)],
                                     capture_output=True, text=True, check=True, cwd=ROOT, env=env)
                res.append(json.loads(out.stdout.strip().splitlines()[-1]))
            ratio = res[1]["peak_rss_mb"] / res[0]["peak_rss_mb"]
            grow = (res[1]["peak_rss_mb"] - res[1]["rss_before_mb"]) / max(res[0]["peak_rss_mb"] - res[0]["rss_before_mb"], 1)
            rows.append((stat, res, ratio, grow))
            print(f"{stat:>22}: N={res[0]['n']:>6} peak {res[0]['peak_rss_mb']:7.1f} MB ({res[0]['seconds']:6.1f} s) | "
                  f"N={res[1]['n']:>6} peak {res[1]['peak_rss_mb']:7.1f} MB ({res[1]['seconds']:6.1f} s) | "
                  f"peak ratio {ratio:.3f}, work-increment ratio {grow:.2f}", flush=True)
    print(json.dumps({r[0]: {"runs": r[1], "peak_ratio": round(r[2], 3), "increment_ratio": round(r[3], 2)}
                      for r in rows}))


if __name__ == "__main__":
    main()
