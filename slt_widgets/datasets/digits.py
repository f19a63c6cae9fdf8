"""scikit-learn's 8 × 8 digits as a second, non-speech built-in dataset."""
from __future__ import annotations

import numpy as np

from .frames import FrameDataset

__all__ = ["load_digits_dataset"]


def load_digits_dataset(split: str = "all", seed: int = 0, standardize: bool = True) -> FrameDataset:
    """The 1,797 digits (features ``[N, 64]`` drawn as ``(8, 8)`` images, 10 classes).

    split: ``"all"``, ``"train"`` (60 %), ``"dev"`` (20 %) or ``"eval"`` (20 %), a fixed
    stratified split from ``seed``. standardize: scale pixels 0..16 to mean 0 / unit
    variance with the whole set's statistics (what an MLP wants).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("all", "train", "dev", "eval"):
        raise ValueError(f"split must be 'all', 'train', 'dev' or 'eval', got {split!r}")
    d = load_digits()
    x = d.data.astype(np.float32)
    if standardize:
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    y = d.target.astype(np.int64)
    idx = np.arange(len(y))
    if split != "all":
        tr, rest = train_test_split(idx, test_size=0.4, random_state=seed, stratify=y)
        dv, ev = train_test_split(rest, test_size=0.5, random_state=seed, stratify=y[rest])
        idx = {"train": tr, "dev": dv, "eval": ev}[split]
        idx = np.sort(idx)
    return FrameDataset.from_arrays(x[idx], y[idx], [str(i) for i in range(10)], feature_shape=(8, 8),
                                    name=f"digits-{split}")
