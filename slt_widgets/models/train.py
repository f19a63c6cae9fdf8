"""Train and evaluate a classifier on a `FrameDataset`, streaming spliced batches.

Adam, the learning rate halved when the dev score stops improving, early stopping on dev with the
best state restored — the recipe of the paper's networks. Features are spliced per batch from the
dataset's compact storage, so memory stays bounded by ``batch_size`` whatever the corpus size.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["train", "train_step", "evaluate", "predict", "frame_accuracy"]


def _check_dataset(ds, what: str, model: nn.Module | None = None):
    from ..datasets.frames import FrameDataset
    if not isinstance(ds, FrameDataset):
        raise TypeError(f"{what} must be a slt_widgets FrameDataset (wrap arrays with "
                        f"FrameDataset.from_arrays(features, labels, class_names)); got {type(ds).__name__}")
    if len(ds) == 0:
        raise ValueError(f"{what} has no samples")
    if model is not None:
        first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
        if first is not None and first.in_features != ds.n_features:
            raise ValueError(f"{what} has {ds.n_features} features per sample but the model's first Linear "
                             f"expects {first.in_features}; build the model with d_in={ds.n_features}")
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        if last.out_features < ds.n_classes:
            raise ValueError(f"{what} has {ds.n_classes} classes but the model has only {last.out_features} "
                             f"outputs; build it with d_out={ds.n_classes}")


@contextmanager
def _threads(n: int | None):
    """Use ``n`` intra-op threads inside the block (None: leave torch's setting), then restore."""
    old = torch.get_num_threads()
    if n is not None:
        if int(n) < 1:
            raise ValueError(f"threads must be a positive int or None, got {n}")
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@torch.no_grad()
def evaluate(model: nn.Module, dataset, batch_size: int = 4096, threads: int | None = None) -> dict:
    """Mean cross-entropy and frame accuracy of ``model`` on ``dataset`` (eval mode, streamed).

    Returns ``{"loss": float, "accuracy": float, "n": N}``; the model's train/eval mode is restored.
    """
    _check_dataset(dataset, "dataset", model)
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        with _threads(threads):
            for _, x, y in dataset.iter_batches(batch_size):
                logits = model(torch.from_numpy(x))
                t = torch.from_numpy(y)
                loss_sum += float(F.cross_entropy(logits, t, reduction="sum"))
                correct += int((logits.argmax(1) == t).sum())
    finally:
        model.train(was_training)
    return {"loss": loss_sum / len(dataset), "accuracy": correct / len(dataset), "n": len(dataset)}


@torch.no_grad()
def predict(model: nn.Module, dataset, batch_size: int = 4096) -> np.ndarray:
    """Predicted class per sample: ``[N]`` int64 (argmax of the logits, eval mode)."""
    _check_dataset(dataset, "dataset", model)
    was_training = model.training
    model.eval()
    try:
        return np.concatenate([model(torch.from_numpy(x)).argmax(1).numpy()
                               for _, x, _ in dataset.iter_batches(batch_size)])
    finally:
        model.train(was_training)


def frame_accuracy(model: nn.Module, dataset, batch_size: int = 4096) -> float:
    """Share of samples whose predicted class equals the label (the paper's Table 1 number)."""
    return evaluate(model, dataset, batch_size)["accuracy"]


def train_step(model: nn.Module, opt: torch.optim.Optimizer, train_ds, idx: np.ndarray) -> tuple[float, int]:
    """One optimiser step of cross-entropy on the samples ``idx [b]`` of ``train_ds`` (features
    ``[b, D]`` spliced on the fly; sorted indices splice fastest). Returns ``(loss × b, correct)``:
    the batch's summed loss and how many of its ``b`` samples the model (before the step) got right."""
    x = torch.from_numpy(train_ds.features_at(idx))
    y = torch.from_numpy(train_ds.labels[idx])
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach()) * len(idx), int((logits.argmax(1) == y).sum())


def train(model: nn.Module, train_ds, dev_ds, epochs: int = 25, lr: float = 1e-3, batch_size: int = 512,
          seed: int = 0, patience: int = 4, lr_patience: int = 1, min_lr: float = 1e-5,
          monitor: str = "dev_acc", max_seconds: float | None = None, max_batches: int | None = None,
          threads: int | None = None, progress: bool = True) -> dict:
    """Train ``model`` in place on ``train_ds`` with early stopping on ``dev_ds``; returns the history.

    Each epoch visits the training samples in a seeded random order in batches of ``batch_size``
    (features ``[batch_size, D]`` spliced on the fly). After each epoch the dev set is scored;
    when ``monitor`` (``"dev_acc"`` or ``"dev_loss"``) has not improved for ``lr_patience`` epochs
    the learning rate is halved (not below ``min_lr``), after ``patience`` epochs training stops.
    ``max_batches`` caps the optimiser steps (deterministic: the same run on any machine);
    ``max_seconds`` caps the wall time (checked after each epoch and every 50 batches). Either cap
    may stop inside an epoch; the dev set is scored then as after a full epoch. The best
    dev state is restored at the end and the model is left in eval mode.

    Returns ``{"train_loss": [E], "train_acc": [E], "dev_loss": [E], "dev_acc": [E], "lr": [E],
    "epoch_seconds": [E], "best_epoch": int (0-based), "epochs_run": E, "batches": int,
    "stopped": "epochs" | "early_stopping" | "max_batches" | "max_seconds", "seconds": float}``.
    """
    _check_dataset(train_ds, "train_ds", model)
    _check_dataset(dev_ds, "dev_ds", model)
    if monitor not in ("dev_acc", "dev_loss"):
        raise ValueError(f"monitor must be 'dev_acc' or 'dev_loss', got {monitor!r}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience),
                    ("lr_patience", lr_patience)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive int, got {v}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    from tqdm.auto import tqdm

    torch.manual_seed(seed)   # dropout masks
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sign = 1.0 if monitor == "dev_acc" else -1.0      # higher is better after multiplying
    hist = {k: [] for k in ("train_loss", "train_acc", "dev_loss", "dev_acc", "lr", "epoch_seconds")}
    best, best_state, best_epoch, since_best, since_lr = -math.inf, None, -1, 0, 0
    stopped = "epochs"
    t0 = time.perf_counter()
    n = len(train_ds)
    n_batches = math.ceil(n / batch_size)
    steps = 0
    if max_batches is not None and int(max_batches) < 1:
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches}")
    with _threads(threads):
        total = epochs * n_batches if max_batches is None else min(epochs * n_batches, int(max_batches))
        bar = tqdm(total=total, desc="train", unit="batch", disable=not progress, leave=False)
        try:
            for epoch in range(epochs):
                te = time.perf_counter()
                model.train()
                order = rng.permutation(n)
                loss_sum, correct, seen = 0.0, 0, 0
                for b in range(n_batches):
                    idx = np.sort(order[b * batch_size:(b + 1) * batch_size])  # sorted: cache-friendly splicing
                    if len(idx) < 2 and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
                        continue          # BatchNorm cannot train on a single sample
                    batch_loss, batch_correct = train_step(model, opt, train_ds, idx)
                    loss_sum += batch_loss
                    correct += batch_correct
                    seen += len(idx)
                    bar.update(1)
                    steps += 1
                    if max_batches is not None and steps >= max_batches:
                        stopped = "max_batches"
                        break
                    if max_seconds is not None and b % 50 == 49 and time.perf_counter() - t0 > max_seconds:
                        stopped = "max_seconds"
                        break
                dev = evaluate(model, dev_ds)
                lr_now = opt.param_groups[0]["lr"]
                hist["train_loss"].append(loss_sum / max(seen, 1))
                hist["train_acc"].append(correct / max(seen, 1))
                hist["dev_loss"].append(dev["loss"])
                hist["dev_acc"].append(dev["accuracy"])
                hist["lr"].append(lr_now)
                hist["epoch_seconds"].append(time.perf_counter() - te)
                bar.set_postfix(epoch=epoch + 1, dev_acc=f"{dev['accuracy']:.3f}", lr=f"{lr_now:.1e}")
                score = sign * (dev["accuracy"] if monitor == "dev_acc" else dev["loss"])
                if score > best:
                    best, best_epoch, since_best, since_lr = score, epoch, 0, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    since_best += 1
                    since_lr += 1
                    if since_lr >= lr_patience:
                        for g in opt.param_groups:
                            g["lr"] = max(g["lr"] * 0.5, min_lr)
                        since_lr = 0
                if stopped in ("max_seconds", "max_batches"):
                    break
                if since_best >= patience:
                    stopped = "early_stopping"
                    break
                if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                    stopped = "max_seconds"
                    break
        finally:
            bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist.update(best_epoch=best_epoch, epochs_run=len(hist["dev_acc"]), batches=steps, stopped=stopped,
                seconds=time.perf_counter() - t0, monitor=monitor)
    return hist
