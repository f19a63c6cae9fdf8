"""Which networks and splits the report runs on: the demo nets, a checkpoint, or digits."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Source", "train_toy_mlp", "resolve_sources", "limit_frames"]


@dataclass
class Source:
    """One network with its splits. dev: trains the LDAs; eval: every analysis; xeng: an extra
    test split evaluated separately (None if absent); train: the training split (controls)."""

    name: str
    model: torch.nn.Module
    dev: object
    eval: object
    xeng: object | None = None
    train: object | None = None
    notes: list = field(default_factory=list)
    budget: object = None                   # a stages.Budget; None picks by name (small / wide)


def train_toy_mlp(train_ds, hidden=(32, 32, 32, 32), steps: int = 300, lr: float = 3e-3, seed: int = 0,
                  init_only: bool = False):
    """A small ReLU MLP (``slt_widgets.models.mlp``) fitted full-batch with Adam on ``train_ds``
    (features ``[N, F]``): a fast stand-in for the demo nets (digits: ~1 s). ``init_only`` returns
    the seeded, untrained initialisation (the random-weights control). Model in eval mode."""
    from ..models import mlp
    torch.manual_seed(seed)
    m = mlp(train_ds.n_features, tuple(hidden), train_ds.n_classes)
    if init_only:
        return m.eval()
    x = torch.from_numpy(train_ds.features)
    y = torch.from_numpy(train_ds.labels)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    m.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)             # tiny matrices: extra threads only contend
    try:
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return m.eval()


def limit_frames(ds, max_frames: int | None, seed: int, notes: list | None = None):
    """``ds`` subsampled to ``max_frames`` samples (seeded, order kept), noting it in ``notes``."""
    if max_frames is not None and (isinstance(max_frames, bool) or int(max_frames) != max_frames or max_frames < 1):
        raise ValueError(f"max_frames must be a whole number ≥ 1 (or None for all frames), got {max_frames!r}")
    if ds is None or max_frames is None or len(ds) <= max_frames:
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=int(max_frames), replace=False))
    if notes is not None:
        notes.append(f"{ds.name}: {max_frames} of {len(ds)} frames drawn at random (seed {seed}).")
    return ds.subset(idx)


def check_split_matches(ds, info: dict, flag: str, checkpoint) -> None:
    """Refuse a split whose classes or feature layout differ from the checkpoint's: its labels
    would be read against another class list and every accuracy and claim would be wrong."""
    names, shape = tuple(info["class_names"]), tuple(info["feature_shape"])
    if tuple(ds.class_names) != names:
        only_ds = [c for c in ds.class_names if c not in names][:5]
        only_ck = [c for c in names if c not in ds.class_names][:5]
        diff = (f"only in the data: {only_ds}; only in the checkpoint: {only_ck}" if only_ds or only_ck
                else "same names in another order")
        raise ValueError(f"{flag} {ds.name!r} has {len(ds.class_names)} classes that differ from the "
                         f"{len(names)} of checkpoint {checkpoint} ({diff}); give the splits the network was "
                         "trained for")
    if ds.n_features != int(np.prod(shape)):
        raise ValueError(f"{flag} {ds.name!r} has {ds.n_features} features per sample but checkpoint {checkpoint} "
                         f"takes {int(np.prod(shape))} ({shape}); give the splits the network was trained for")


def _digits(seed: int) -> Source:
    from ..datasets import load_digits_dataset
    tr, dv, ev = (load_digits_dataset(s) for s in ("train", "dev", "eval"))
    model = train_toy_mlp(tr, hidden=(64,) * 5, steps=400, seed=seed)
    from .stages import Budget
    return Source("digits-5x64", model, dv, ev, None, tr, budget=Budget(tsne_iter=300), notes=
                  ["The demo nets were not available: a 5 × 64 ReLU MLP trained on scikit-learn's 8 × 8 digits "
                   "(train/dev/eval 60/20/20 %) stands in for them. Speech-specific rows (phoneme classes) are "
                   "replaced by automatically chosen classes."])


def resolve_sources(args) -> list[Source]:
    """The networks named by the CLI arguments (see :func:`add_arguments`)."""
    from ..datasets import FrameDataset
    seed = int(args.seed)
    if args.checkpoint:
        from ..models import load_checkpoint
        if not (args.dev and args.eval):
            raise SystemExit("--checkpoint needs --dev PATH and --eval PATH (FrameDataset .npz files)")
        model, info = load_checkpoint(args.checkpoint)
        splits = {"--dev": FrameDataset.load(args.dev), "--eval": FrameDataset.load(args.eval)}
        if getattr(args, "xeng", None):
            splits["--xeng"] = FrameDataset.load(args.xeng)
        for flag, ds in splits.items():
            check_split_matches(ds, info, flag, args.checkpoint)
        from pathlib import Path
        src = [Source(Path(args.checkpoint).stem, model, splits["--dev"], splits["--eval"], splits.get("--xeng"))]
    elif args.digits:
        src = [_digits(seed)]
    else:
        try:
            from ..demo import load_demo
        except ImportError:
            print("slt_widgets.demo is not available yet: running on digits instead")
            src = [_digits(seed)]
        else:
            src = []
            for name in args.model:
                model, dev = load_demo(name, "dev")
                _, ev = load_demo(name, "eval")
                try:
                    _, xe = load_demo(name, "xeng")
                except (KeyError, ValueError, FileNotFoundError):
                    xe = None
                src.append(Source(name, model, dev, ev, xe))
    for s in src:
        s.dev = limit_frames(s.dev, args.max_frames, seed, s.notes)
        s.eval = limit_frames(s.eval, args.max_frames, seed + 1, s.notes)
        s.xeng = limit_frames(s.xeng, args.max_frames, seed + 2, s.notes)
    return src
