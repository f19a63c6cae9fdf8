"""Input validation shared by the analyses: messages say what was wrong and how to fix it."""
from __future__ import annotations

import numpy as np

__all__ = ["AnalysisError", "as_matrix", "as_labels", "check_seed", "to_numpy"]


class AnalysisError(ValueError):
    """An analysis cannot run on the data it was given (too few samples, empty class, …)."""


def to_numpy(x) -> np.ndarray:
    """A torch tensor or array-like as a numpy array (no copy when already numpy)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def as_matrix(x, name: str = "x", min_rows: int = 1, dtype=np.float64) -> np.ndarray:
    """``x`` as a finite 2-D array ``[n, F]`` with at least ``min_rows`` rows."""
    a = to_numpy(x)
    if a.ndim != 2:
        raise AnalysisError(f"{name} must be a 2-D array [n, F]; got shape {a.shape}"
                            + (" (reshape it with x.reshape(len(x), -1))" if a.ndim > 2 else ""))
    if a.shape[0] < min_rows:
        raise AnalysisError(f"{name} needs at least {min_rows} rows (samples); got {a.shape[0]}")
    a = a.astype(dtype, copy=False)
    if not np.isfinite(a).all():
        raise AnalysisError(f"{name} contains NaN or inf; drop or fill those entries first")
    return a


def as_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """``labels`` as an int64 vector ``[n]`` of non-negative class indices."""
    y = to_numpy(labels)
    if y.shape != (n,):
        raise AnalysisError(f"{name} must be a vector [n] = [{n}] (one per row); got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise AnalysisError(f"{name} must be integer class indices; got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise AnalysisError(f"{name} must be ≥ 0 (class indices); got minimum {y.min()}")
    return y


def check_seed(seed) -> int:
    """A non-negative int seed (numpy/sklearn/torch accept it)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AnalysisError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)
