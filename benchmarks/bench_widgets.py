"""Explorer latency in a real browser (JupyterLab 4 + headless Debian Chromium). Run by hand:

    python benchmarks/bench_widgets.py [--repeats 5] [--max-samples 2000] [--voila]
    python benchmarks/bench_widgets.py --compare [--paper-wide PATH] [--compare-samples 500]

Measures, inside the page (``performance.now()``), the time from the user's action to every
linked view redrawn (template heading, dendrogram title, embedding title, spectrum legend all
show the new selection and the busy indicator is hidden again):

* warm selection: re-selecting a class already computed (SLTs cached) — target ≤ 150 ms;
* first selection of a class of up to 5,000 frames — target ≤ 2 s, busy indicator seen;
* a click on a dendrogram branch (cluster) — no target, reported.

It also checks that arrays travel as binary float32: websocket frames during a selection are
inspected (binary frames carry the arrays, no large JSON frame), and the kernel's array traits
are asked for their dtypes. Uses the demo network (``load_demo("small", "eval")``) when its data
is built, else a synthetic 23 × 11-input 5 × 256 network on a 40-class frame set whose largest
classes have 5,000 / 4,000 / 3,000 frames (trained for a few seconds; printed in the header).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from browser.pages import click_tree_cluster, open_lab_notebook  # noqa: E402
from browser.servers import (kernel_client, kernel_eval, launch_chromium, missing_requirements,  # noqa: E402
                             one_cell_notebook, start_lab, start_voila)

WARM_TARGET_MS, FIRST_TARGET_MS = 150.0, 2000.0

# Select a class in the dropdown and wait (polling every 2 ms) until every view shows it.
SELECT_JS = r"""
async ([cls, node]) => {
  const root = document.querySelector('.slt-explorer');
  const sel = root.querySelector('.slt-class-picker select');
  const busy = root.querySelector('.slt-busy');
  const q = (s) => root.querySelector(s);
  const opt = [...sel.options].find(o => o.textContent === cls);
  if (!opt) throw new Error('no option ' + cls);
  let sawBusy = false;
  const parts = {};
  const t0 = performance.now();
  sel.value = opt.value;
  sel.dispatchEvent(new Event('change', {bubbles: true}));
  return await new Promise((resolve, reject) => {
    const check = () => {
      if (getComputedStyle(busy).visibility === 'visible') sawBusy = true;
      const head = q('.slt-explorer-templates .slt-tp-heading');
      const tree = q('.slt-explorer-tree .slt-ct-title');
      const emb = q('.slt-embedding-view .mainheading');
      const leg = q('.slt-spectrum-legend');
      const now = performance.now() - t0;
      const conds = {
        templates: head && head.textContent.startsWith(`${cls} · output node ${node} · whole class — `),
        tree: tree && tree.textContent.includes(`· ${cls} ·`),
        embedding: emb && emb.textContent.includes(`· ${cls} (n =`),
        spectra: leg && leg.textContent.includes(`class ${cls} (n=`),
        idle: sawBusy && getComputedStyle(busy).visibility === 'hidden'};
      for (const [k, v] of Object.entries(conds)) if (v && !(k in parts)) parts[k] = now;
      const ok = Object.values(conds).every(Boolean) ||
                 (Object.entries(conds).every(([k, v]) => v || k === 'idle') &&
                  getComputedStyle(busy).visibility === 'hidden');
      if (ok) resolve({ms: performance.now() - t0, sawBusy, parts});
      else if (performance.now() - t0 > 60000) reject(new Error('views did not update in 60 s'));
      else setTimeout(check, 2);
    };
    check();
  });
}
"""

CLICK_WAIT_JS = r"""
async (k) => {
  const root = document.querySelector('.slt-explorer');
  const busy = root.querySelector('.slt-busy');
  return await new Promise((resolve, reject) => {
    const check = () => {
      const head = root.querySelector('.slt-explorer-templates .slt-tp-heading');
      const leg = root.querySelector('.slt-spectrum-legend');
      const ok = head && head.textContent.includes(`cluster ${k} — `) && leg &&
                 leg.textContent.includes(`cluster ${k} (n=`) && getComputedStyle(busy).visibility === 'hidden';
      if (ok) resolve(performance.now() - window.__sltClickT0);
      else if (performance.now() - window.__sltClickT0 > 30000) reject(new Error('no redraw in 30 s'));
      else setTimeout(check, 2);
    };
    check();
  });
}
"""


def frame_parts(payload) -> tuple[int, int]:
    """``(JSON bytes, binary buffer bytes)`` of one websocket frame from the kernel.

    Binary frames use Jupyter's ``v1.kernel.websocket.jupyter.org`` layout: a uint64 count n,
    n uint64 offsets, then channel, header, parent header, metadata, content and the buffers.
    A text frame (legacy protocol) is all JSON.
    """
    if isinstance(payload, str):
        return len(payload), 0
    b = bytes(payload)
    n = int.from_bytes(b[:8], "little")
    if not 5 <= n <= 10_000 or len(b) < 8 * (n + 1):
        return len(b), 0
    offs = [int.from_bytes(b[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)] + [len(b)]
    json_bytes = offs[5] - offs[0]                       # channel … content
    return json_bytes, len(b) - offs[5]


def build_data(workdir: Path) -> tuple[Path, Path, str]:
    """Save a model and dataset for the notebook; returns (model.pt, dataset.npz, description)."""
    import numpy as np
    import torch
    from torch import nn

    from slt_widgets.datasets import FrameDataset

    try:
        from slt_widgets import load_demo
        model, ds = load_demo("small", "eval")
        desc = f"demo 'small' (5 × 256) on {ds!r}"
    except Exception as err:  # noqa: BLE001 — demo data not built in this checkout
        rng = np.random.default_rng(0)
        K, F = 40, 253
        sizes = np.array([5000, 4000, 3000] + [500] * (K - 3))
        y = np.repeat(np.arange(K), sizes)
        centres = rng.normal(size=(K, F)).astype(np.float32)
        x = (0.6 * centres[y] + rng.normal(size=(len(y), F)).astype(np.float32)).astype(np.float32)
        names = [f"C{k:02d}" for k in range(K)]
        ds = FrameDataset.from_arrays(x, y, names, feature_shape=(23, 11), name="synthetic-speech-shaped")
        torch.manual_seed(0)
        layers, d = [], F
        for _ in range(5):
            layers += [nn.Linear(d, 256), nn.ReLU()]
            d = 256
        model = nn.Sequential(*layers, nn.Linear(d, K))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        t0 = time.time()
        for _epoch in range(2):
            perm = torch.randperm(len(yt))
            for s in range(0, len(yt), 512):
                b = perm[s:s + 512]
                opt.zero_grad()
                nn.functional.cross_entropy(model(xt[b]), yt[b]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(xt).argmax(1) == yt).float().mean())
        desc = (f"synthetic 40-class 23×11 frames (N={len(y)}, largest classes 5000/4000/3000), 5×256 ReLU MLP "
                f"trained {time.time() - t0:.0f} s, accuracy {acc:.3f} (demo not available: {type(err).__name__})")
    mp, dp = workdir / "model.pt", workdir / "data.npz"
    from slt_widgets.models import save_checkpoint
    save_checkpoint(mp, model, ds.class_names, ds.feature_shape)
    ds.save(dp)
    return mp, dp, desc


def notebook(path: Path, model_path: Path, data_path: Path, first: str, max_samples: int) -> None:
    src = ("import slt_widgets, slt_widgets.models\n"
           f"model, _info = slt_widgets.models.load_checkpoint({str(model_path)!r})\n"
           f"dataset = slt_widgets.FrameDataset.load({str(data_path)!r})\n"
           f"explorer = slt_widgets.Explorer(model, dataset, cls={first!r}, max_samples={max_samples})\n"
           "explorer")
    one_cell_notebook(path, src)


# ============================================================================== Compare
COMPARE_WARM_TARGET_MS, COMPARE_FIRST_TARGET_MS = 200.0, 3000.0

# Select a class in Compare's dropdown; wait until the heading, every side's tree title and spectrum
# legend show it and the busy indicator (seen at least once, or never needed) is hidden again.
COMPARE_SELECT_JS = r"""
async ([cls]) => {
  const root = document.querySelector('.slt-compare');
  const sel = root.querySelector('.slt-class-picker select');
  const busy = root.querySelector('.slt-busy');
  const opt = [...sel.options].find(o => o.textContent === cls);
  if (!opt) throw new Error('no option ' + cls);
  let sawBusy = false;
  const t0 = performance.now();
  sel.value = opt.value;
  sel.dispatchEvent(new Event('change', {bubbles: true}));
  return await new Promise((resolve, reject) => {
    const check = () => {
      if (getComputedStyle(busy).visibility === 'visible') sawBusy = true;
      const head = root.querySelector('.slt-compare-templates .slt-tp-heading');
      const trees = [...root.querySelectorAll('.slt-compare-tree .slt-ct-title')];
      const legs = [...root.querySelectorAll('.slt-compare-side .slt-spectrum-legend')];
      const ok = head && head.textContent.startsWith(`${cls} · output · whole class — `) &&
        trees.length > 1 && trees.every(t => t.textContent.includes(`· ${cls} · output node`)) &&
        legs.length === trees.length && legs.every(l => l.textContent.includes(`class ${cls} (n=`)) &&
        getComputedStyle(busy).visibility === 'hidden';
      if (ok) resolve({ms: performance.now() - t0, sawBusy});
      else if (performance.now() - t0 > 120000) reject(new Error('views did not update in 120 s'));
      else setTimeout(check, 2);
    };
    check();
  });
}
"""


def compare_notebook(path: Path, models: dict, data_path: Path, first: str, max_samples: int,
                     correct_by: str) -> None:
    """A notebook that builds ``compare`` from ``{name: model.pt}`` on the dataset and shows it."""
    load = "\n".join(f"models[{n!r}], _ = slt_widgets.models.load_checkpoint({str(p)!r})" for n, p in models.items())
    src = ("import torch, slt_widgets, slt_widgets.models\nmodels = {}\n" + load + "\n"
           f"dataset = slt_widgets.FrameDataset.load({str(data_path)!r})\n"
           f"compare = slt_widgets.Compare(models, dataset, cls={first!r}, max_samples={max_samples}, "
           f"correct_by={correct_by!r})\ncompare")
    one_cell_notebook(path, src)


def _compare_pass(tmp: Path, label: str, models: dict, data_path: Path, classes: list, warm: list,
                  repeats: int, max_samples: int, correct_by: str) -> dict:
    """One Voilà page with one Compare: first selections of ``classes``, then warm re-selections."""
    from playwright.sync_api import sync_playwright
    root = tmp / f"root_{label}"
    root.mkdir()
    compare_notebook(root / "compare.ipynb", models, data_path, warm[0], max_samples, correct_by)
    server = start_voila(root / "compare.ipynb", tmp / f"env_{label}")
    try:
        with sync_playwright() as p:
            ctx = launch_chromium(p, tmp / f"profile_{label}", width=1600)
            page = ctx.new_page()
            page.set_default_timeout(300_000)
            page.goto(f"{server.url}/?token={server.token}")
            page.locator(".slt-compare").first.wait_for(state="visible")
            page.wait_for_function("() => { const b = document.querySelector('.slt-compare .slt-busy');"
                                   " return b && getComputedStyle(b).visibility === 'hidden'; }")
            kc = kernel_client(server)
            first = [(c, page.evaluate(COMPARE_SELECT_JS, [c])) for c in classes]
            page.evaluate(COMPARE_SELECT_JS, [warm[1]])
            warm_ms = [page.evaluate(COMPARE_SELECT_JS, [c])["ms"] for _ in range(repeats) for c in warm]
            errors = kernel_eval(kc, "print([str(e) for e in compare.error_area.errors])").strip()
            kc.stop_channels()
            ctx.close()
    finally:
        server.stop()
    return {"first": [(c, r["ms"], r["sawBusy"]) for c, r in first], "warm": warm_ms, "errors": errors}


def bench_compare(args) -> None:
    """Compare latency in Voilà: the two demo nets, then the small net against a 5 × 2048 side."""
    import numpy as np
    import torch

    from slt_widgets import load_demo
    from slt_widgets.models import load_checkpoint, save_checkpoint
    from slt_widgets.models.mlp import mlp

    why = missing_requirements()
    if why:
        sys.exit(f"cannot run the widget benchmark: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="slt_bench_compare_"))
    small, ds = load_demo("small", "eval")
    wide, _ = load_demo("wide", "eval")
    dp = tmp / "eval.npz"
    ds.save(dp)
    paths = {}
    for name, m in (("small", small), ("wide", wide)):
        paths[name] = tmp / f"{name}.pt"
        save_checkpoint(paths[name], m, ds.class_names, ds.feature_shape)
    if args.paper_wide:
        big, _ = load_checkpoint(args.paper_wide)
        big_desc, correct_by = f"trained 5 × 2048 from {args.paper_wide}", "all"
    else:
        torch.manual_seed(0)
        big = mlp(ds.n_features, (2048,) * 5, ds.n_classes, batch_norm=True, dropout=0.2).eval()
        big_desc, correct_by = "seeded random-init 5 × 2048 (frames: those the small net gets right)", "5 × 256"
    paths["5 × 2048"] = tmp / "big.pt"
    save_checkpoint(paths["5 × 2048"], big, ds.class_names, ds.feature_shape)
    counts = np.bincount(ds.labels, minlength=ds.n_classes)
    order = [ds.class_names[k] for k in np.argsort(-counts, kind="stable")]
    classes, warm = order[1:4], order[-2:]        # first selections: three large classes; warm pair
    demo = _compare_pass(tmp, "demo", {"small": paths["small"], "wide": paths["wide"]}, dp, classes, warm,
                         args.repeats, args.compare_samples, "all")
    paper = _compare_pass(tmp, "paper", {"5 × 256": paths["small"], "5 × 2048": paths["5 × 2048"]}, dp,
                          classes, warm, args.repeats, args.compare_samples, correct_by)
    print(f"\nCompare latency, Voilà + headless Chromium, max_samples={args.compare_samples}, "
          f"demo eval split ({len(ds)} frames)\n")
    print(f"{'measurement':<52}{'median ms':>10}{'target ms':>11}{'ratio':>8}")
    for label, res in (("small vs wide (demo)", demo), ("5 × 256 vs " + big_desc.split(' (')[0], paper)):
        f = statistics.median(ms for _, ms, _ in res["first"])
        w = statistics.median(res["warm"])
        print(f"{label + ': first selection':<52}{f:>10.0f}{COMPARE_FIRST_TARGET_MS:>11.0f}"
              f"{f / COMPARE_FIRST_TARGET_MS:>8.2f}")
        print(f"{label + ': warm selection':<52}{w:>10.0f}{COMPARE_WARM_TARGET_MS:>11.0f}"
              f"{w / COMPARE_WARM_TARGET_MS:>8.2f}")
        print("   first: " + ", ".join(f"{c} ({int(counts[ds.class_index(c)])} frames) {ms:.0f} ms"
                                       for c, ms, _ in res["first"]))
        print(f"   warm (ms): {', '.join(f'{x:.0f}' for x in res['warm'])}; busy seen on first selections: "
              f"{sum(b for *_, b in res['first'])}/{len(res['first'])}; errors: {res['errors']}")
    print(f"5 × 2048 side: {big_desc}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--voila", action="store_true", help="run in Voilà instead of JupyterLab")
    ap.add_argument("--compare", action="store_true",
                    help="benchmark Compare instead (Voilà): the demo nets, then the small net vs a 5 × 2048 side")
    ap.add_argument("--paper-wide", default=None,
                    help="with --compare: the trained 5 × 2048 checkpoint (train_demo --paper-wide); "
                         "default a seeded random-init 5 × 2048 net")
    ap.add_argument("--compare-samples", type=int, default=500, help="with --compare: frames per class")
    args = ap.parse_args()
    if args.compare:
        bench_compare(args)
        return
    why = missing_requirements()
    if why:
        sys.exit(f"cannot run the widget benchmark: {why}")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="slt_bench_"))
    root = tmp / "root"
    root.mkdir()
    mp, dp, desc = build_data(tmp)
    from slt_widgets.datasets import FrameDataset
    ds = FrameDataset.load(dp)
    counts = {n: int((ds.labels == i).sum()) for i, n in enumerate(ds.class_names)}
    by_size = sorted(counts, key=lambda n: -counts[n])
    big = [n for n in by_size if counts[n] <= 5000][:3]                 # first selections: the 3 largest
    small = [n for n in by_size[::-1] if n not in big][:2]                       # warm pair
    notebook(root / "bench.ipynb", mp, dp, small[0], args.max_samples)
    server = start_voila(root / "bench.ipynb", tmp / "env") if args.voila else start_lab(root, tmp / "env")
    frames = {"json": [], "buffers": []}
    try:
        with sync_playwright() as p:
            ctx = launch_chromium(p, tmp / "profile")
            page = ctx.new_page()
            page.set_default_timeout(180_000)
            def on_frame(payload):
                j, buf = frame_parts(payload)
                frames["json"].append(j)
                frames["buffers"].append(buf)

            page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
            if args.voila:
                page.goto(f"{server.url}/?token={server.token}")
                page.locator(".slt-explorer").first.wait_for(state="visible")
                kc = kernel_client(server)
            else:
                open_lab_notebook(page, server, "bench.ipynb")
                kc = kernel_client(server, server.api("/api/sessions")[0]["kernel"]["id"])
            node = {n: i for i, n in enumerate(ds.class_names)}
            first, warm, clicks, busy_seen, warm_parts = [], [], [], [], []
            frames["json"].clear()
            frames["buffers"].clear()
            for cls in big:                                   # first selection of each big class
                r = page.evaluate(SELECT_JS, [cls, node[cls]])
                first.append((cls, counts[cls], r["ms"]))
                busy_seen.append(r["sawBusy"])
            sel_frames = {k: list(v) for k, v in frames.items()}
            page.evaluate(SELECT_JS, [small[1], node[small[1]]])
            for _ in range(args.repeats):                      # warm: both classes are cached now
                for cls in small:
                    r = page.evaluate(SELECT_JS, [cls, node[cls]])
                    warm.append(r["ms"])
                    warm_parts.append(r["parts"])
            page.evaluate("() => document.addEventListener('click', () => { window.__sltClickT0 = performance.now(); },"
                          " true)")
            for _ in range(args.repeats):
                for k in (1, 0):
                    click_tree_cluster(page, k)
                    clicks.append(page.evaluate(CLICK_WAIT_JS, k))
            dtypes = json.loads(kernel_eval(kc, (
                "import json; e = explorer\n"
                "print(json.dumps({'scatter.x': str(e.embedding.scatter.x.dtype), 'scatter.y': "
                "str(e.embedding.scatter.y.dtype), 'spectra.y': str(e.spectra.context_lines.y.dtype), "
                "'templates.images': str(e.templates.images.dtype), 'hits': e.cache.hits, "
                "'misses': e.cache.misses, 'errors': [str(x) for x in e.error_area.errors]}))")).strip().splitlines()[-1])
            kc.stop_channels()
            ctx.close()
    finally:
        server.stop()

    med_warm = statistics.median(warm)
    med_first = statistics.median(ms for _, _, ms in first)
    med_click = statistics.median(clicks)
    print(f"\nExplorer latency, {'Voilà' if args.voila else 'JupyterLab'} + headless Chromium, "
          f"max_samples={args.max_samples}\ndata: {desc}\n")
    print(f"{'measurement':<44}{'median ms':>10}{'target ms':>11}{'ratio':>8}")
    print(f"{'warm (cached) class selection':<44}{med_warm:>10.0f}{WARM_TARGET_MS:>11.0f}"
          f"{med_warm / WARM_TARGET_MS:>8.2f}")
    print(f"{'first selection of a class (≤ 5,000 frames)':<44}{med_first:>10.0f}{FIRST_TARGET_MS:>11.0f}"
          f"{med_first / FIRST_TARGET_MS:>8.2f}")
    print(f"{'dendrogram branch click':<44}{med_click:>10.0f}{'–':>11}{'':>8}")
    print("\nfirst selections: " + ", ".join(f"{c} ({n} frames) {ms:.0f} ms" for c, n, ms in first))
    print(f"warm selections (ms): {', '.join(f'{w:.0f}' for w in warm)}")
    views = sorted({k for p in warm_parts for k in p})
    print("warm selection, median ms until each view showed the class: " + ", ".join(
        f"{k} {statistics.median(p[k] for p in warm_parts if k in p):.0f}" for k in views))
    print(f"busy indicator seen during first selections: {sum(busy_seen)}/{len(busy_seen)}")
    with_buf = [b for b in sel_frames["buffers"] if b]
    big_json = max(sel_frames["json"] or [0])
    print(f"kernel→browser messages during first selections: {len(sel_frames['json'])}; {len(with_buf)} carry "
          f"binary buffers ({sum(with_buf) / 1e3:.0f} kB in all); largest JSON part {big_json / 1e3:.1f} kB")
    print(f"kernel array dtypes: {dtypes}")
    assert all(v == "float32" for k, v in dtypes.items() if "." in k), dtypes
    assert with_buf and big_json < 64_000, "arrays must travel as binary buffers, not JSON lists"
    assert all(busy_seen), "the busy indicator must show during a first selection"
    assert not dtypes["errors"], dtypes["errors"]


if __name__ == "__main__":
    main()
