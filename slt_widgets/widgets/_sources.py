"""The user's frames next to the corpus's: one reading of a dataset tagged by source, for every view.

A dataset joined by :func:`slt_widgets.datasets.with_source` carries ``meta["source_code"]``
(``[N]`` ints, 0 corpus, 1 the user's) and ``meta["source_names"]`` (``(corpus name, user
name)``). The Explorer and Compare read it here, check a requested ``source`` here and word the
split count here, so both views say the same thing about the same frames.
"""
from __future__ import annotations

import difflib

import numpy as np

__all__ = ["source_of", "check_source", "yours_text"]


def source_of(dataset) -> tuple[np.ndarray | None, tuple[str, str] | None]:
    """``(user mask [N] bool, (corpus name, user name))`` from ``meta["source_code"]`` /
    ``meta["source_names"]`` (:func:`~slt_widgets.datasets.with_source`), or ``(None, None)``."""
    meta = getattr(dataset, "meta", None)
    code = meta.get("source_code") if isinstance(meta, dict) else None
    if code is None:
        return None, None
    code = np.asarray(code)
    if code.shape != (len(dataset),) or not np.issubdtype(code.dtype, np.integer):
        raise ValueError(f"dataset.meta['source_code'] must be [N] = [{len(dataset)}] ints (0 corpus, 1 yours), "
                         f"got shape {code.shape} {code.dtype}; build the dataset with with_source(user, corpus)")
    names = tuple(str(n) for n in meta.get("source_names", ("corpus", "you")))
    if len(names) != 2 or names[0] == names[1] or "all" in names:
        raise ValueError(f"dataset.meta['source_names'] must be two distinct names other than 'all', got {names!r}")
    return code != 0, names


def check_source(value, source_names) -> None:
    """Raise ``ValueError`` unless ``value`` is ``"all"`` or one of ``source_names`` (None: an
    untagged dataset, where only ``"all"`` exists); the message says how to tag a dataset."""
    if source_names is None:
        if value == "all":
            return
        raise ValueError(f"source={value!r} needs a dataset tagged by source; join your frames to the corpus "
                         "with slt_widgets.datasets.with_source(user, corpus)")
    allowed = ("all",) + tuple(source_names)
    if not isinstance(value, str) or value not in allowed:
        m = difflib.get_close_matches(str(value), allowed, 1)
        raise ValueError(f"source must be one of {', '.join(map(repr, allowed))}, got {value!r}"
                         + (f" (did you mean {m[0]!r}?)" if m else ""))


def yours_text(n_yours: int, source_names) -> str:
    """``"27 yours"`` (user tag ``"you"``) or ``"27 from anna"``: the user's share of a count."""
    tag = source_names[1]
    return f"{n_yours} {'yours' if tag == 'you' else 'from ' + tag}"
