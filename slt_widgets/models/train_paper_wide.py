"""Train the paper's wide net (5 × 2048 ReLU, batch norm, 20 % dropout), resumably, outside the package.

``python -m slt_widgets.models.train_demo --paper-wide --corpus DIR --out DIR2`` calls
:func:`run_paper_wide`. The net is not shipped (70 MB at float32, above the 40 MB package budget);
it is written to ``--out`` (default ``./paper_wide``) with its Table 1 row.

The run is a pure function of the corpus, the seed and the caps: epoch ``e`` visits the training
frames in the order ``default_rng([seed, e]).permutation(N)``, dropout draws come from torch's
generator saved with the state. After every epoch the whole training state (weights, Adam moments,
torch RNG, history, best state, learning-rate schedule) is written atomically to
``paper_wide_state.pt``; running the same command again continues from the last finished epoch.
Learning-rate halving and early stopping follow :func:`~slt_widgets.models.train.train`.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import save_checkpoint
from .mlp import mlp
from .train import evaluate, train_step
from .utterances import eval_sample as _eval_sample

__all__ = ["PAPER_WIDE", "run_paper_wide", "paper_wide_disk_mb"]

PAPER_WIDE = dict(hidden=(2048,) * 5, batch_norm=True, dropout=0.2)
STATE = "paper_wide_state.pt"
CHECKPOINT = "paper_wide.pt"
TABLE = "paper_wide_table1.json"


def paper_wide_disk_mb(d_in: int = 253, d_out: int = 40, width: int = 2048, layers: int = 5) -> dict:
    """Disk the run needs in MB: the float32 checkpoint, and the resumable state (weights, best weights, 2 Adam moments)."""
    params = d_in * width + (layers - 1) * width * width + width * d_out + layers * width * 3 + d_out
    ckpt = 4 * params / 1e6
    return {"checkpoint": ckpt, "state": 4 * ckpt, "total": 5 * ckpt}


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _fresh_state(model, opt) -> dict:
    return {"epoch": 0, "batches": 0, "seconds": 0.0, "best": -math.inf, "best_epoch": -1, "since_best": 0,
            "since_lr": 0, "stopped": "", "hist": {k: [] for k in ("train_loss", "train_acc", "dev_loss", "dev_acc",
                                                                    "lr", "epoch_seconds")}}


def run_paper_wide(args, train_ds, data: dict, corpus_info: dict) -> dict:
    """Train (or resume) the 5 × 2048 net on ``train_ds``, score it on every split; returns the Table 1 dict.

    args: parsed :func:`~.train_demo.build_parser` arguments (``out``, ``seed``, ``lr``,
    ``batch_size``, ``patience``, ``wide_epochs``, ``wide_max_minutes``, ``threads``,
    ``max_train_eval_frames``); data: split name → FrameDataset (``dev`` required).
    """
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    d_in, k = train_ds.n_features, train_ds.n_classes
    torch.manual_seed(args.seed)
    model = mlp(d_in, PAPER_WIDE["hidden"], k, batch_norm=True, dropout=PAPER_WIDE["dropout"])
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    st = _fresh_state(model, opt)
    best_state = None
    state_path = out / STATE
    # what fixes the trajectory; the caps may be raised on a rerun to train further
    settings = {"seed": args.seed, "lr": args.lr, "batch_size": args.batch_size, "frames": len(train_ds),
                "classes": k, "d_in": d_in, "dev_frames": args.max_dev_frames}
    if state_path.is_file():
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        if saved["settings"] != settings:
            raise SystemExit(f"{state_path} was written with {saved['settings']}, not {settings}; "
                             "use another --out or delete that file to start over")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        torch.set_rng_state(saved["rng"])
        st, best_state = saved["st"], saved["best_state"]
        print(f"resuming {state_path} after epoch {st['epoch']} ({st['batches']} batches, "
              f"{st['seconds'] / 60:.1f} min)", flush=True)
    dev_ds, dev_note = _eval_sample(data["dev"], args.max_dev_frames or len(data["dev"]), args.seed)
    n = len(train_ds)
    n_batches = math.ceil(n / args.batch_size)
    cap_s = args.wide_max_minutes * 60
    print(f"paper-wide: 5 x 2048, batch norm, dropout 0.2; {n} training frames ({n_batches} batches/epoch), "
          f"up to {args.wide_epochs} epochs / {args.wide_max_minutes} min, {args.threads} thread(s)", flush=True)
    while not st["stopped"]:
        if st["epoch"] >= args.wide_epochs:
            st["stopped"] = "epochs"
            break
        per_epoch = st["seconds"] / st["epoch"] if st["epoch"] else 0.0
        if st["epoch"] and st["seconds"] + per_epoch > cap_s:
            st["stopped"] = "max_minutes (the next epoch would not fit)"
            break
        te = time.perf_counter()
        model.train()
        order = np.random.default_rng([args.seed, st["epoch"]]).permutation(n)
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(n_batches):
            idx = np.sort(order[b * args.batch_size:(b + 1) * args.batch_size])
            if len(idx) < 2:
                continue                   # batch norm cannot train on one sample
            batch_loss, batch_correct = train_step(model, opt, train_ds, idx)
            loss_sum += batch_loss
            correct += batch_correct
            seen += len(idx)
            st["batches"] += 1
            if b % 100 == 99:
                print(f"  epoch {st['epoch'] + 1} batch {b + 1}/{n_batches} loss {loss_sum / seen:.3f} "
                      f"acc {correct / seen:.3f} ({time.perf_counter() - te:.0f} s)", flush=True)
        dev = evaluate(model, dev_ds)
        h = st["hist"]
        lr_now = opt.param_groups[0]["lr"]
        for key, v in (("train_loss", loss_sum / max(seen, 1)), ("train_acc", correct / max(seen, 1)),
                       ("dev_loss", dev["loss"]), ("dev_acc", dev["accuracy"]), ("lr", lr_now),
                       ("epoch_seconds", time.perf_counter() - te)):
            h[key].append(float(v))
        st["seconds"] += h["epoch_seconds"][-1]
        if dev["accuracy"] > st["best"]:
            st.update(best=dev["accuracy"], best_epoch=st["epoch"], since_best=0, since_lr=0)
            best_state = {k2: v.clone() for k2, v in model.state_dict().items()}
        else:
            st["since_best"] += 1
            st["since_lr"] += 1
            if st["since_lr"] >= 1:
                for g in opt.param_groups:
                    g["lr"] = max(g["lr"] * 0.5, 1e-5)
                st["since_lr"] = 0
        st["epoch"] += 1
        if st["since_best"] >= args.patience:
            st["stopped"] = "early_stopping"
        print(f"epoch {st['epoch']}: train acc {h['train_acc'][-1]:.3f}, dev acc {dev['accuracy']:.3f}, "
              f"lr {lr_now:.1e}, {h['epoch_seconds'][-1] / 60:.1f} min", flush=True)
        _atomic_save({"settings": settings, "model": model.state_dict(), "opt": opt.state_dict(),
                      "rng": torch.get_rng_state(), "st": st, "best_state": best_state}, state_path)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    train_eval, note = _eval_sample(train_ds, args.max_train_eval_frames, args.seed)
    row = {"train": evaluate(model, train_eval)["accuracy"]}
    scored = {"train": note, "dev_monitor": dev_note}
    for s in ("dev", "eval", "xeng"):
        if s in data:
            sub, scored[s] = _eval_sample(data[s], args.max_score_frames or len(data[s]), args.seed)
            row[s] = evaluate(model, sub)["accuracy"]
    h = st["hist"]
    training = {"epochs_run": st["epoch"], "batches": st["batches"], "best_epoch": st["best_epoch"] + 1,
                "stopped": st["stopped"], "minutes": round(st["seconds"] / 60, 2), "epoch_cap": args.wide_epochs,
                "minute_cap": args.wide_max_minutes, "batch_size": args.batch_size, "lr": args.lr,
                "threads": args.threads, "train_frames": n,
                "train_utterances_used": None if train_ds.utt_bounds is None else int(len(train_ds.utt_bounds))}
    table = {"rows": {"paper_wide": row}, "paper_eval": 0.817, "train_scored_on": note, "scored_on": scored,
             "architecture": {"hidden": list(PAPER_WIDE["hidden"]), "batch_norm": True, "dropout": 0.2},
             "training": training, "corpus": corpus_info, "history": h, "seed": args.seed}
    save_checkpoint(out / CHECKPOINT, model, train_ds.class_names, train_ds.feature_shape,
                    meta={"name": "paper_wide", "table1": row, "training": training, "history": h,
                          "corpus": corpus_info, "seed": args.seed})
    table["bytes"] = {f.name: f.stat().st_size for f in sorted(out.iterdir()) if f.suffix == ".pt"}
    tmp = out / (TABLE + ".tmp")
    tmp.write_text(json.dumps(table, indent=1))
    os.replace(tmp, out / TABLE)
    cols = [c for c in ("train", "dev", "eval", "xeng") if c in row]
    print("Table 1 row, frame accuracy (%):", ", ".join(f"{c} {100 * row[c]:.1f}" for c in cols),
          f"(paper's 5 x 2048 on WSJ eval: 81.7); trained {training['minutes']} min, "
          f"{training['epochs_run']} epochs, stopped: {training['stopped']}", flush=True)
    return table
