"""Checkpoints that carry the architecture as data and load without executing code.

A checkpoint is a ``torch.save`` file of plain containers only: the :func:`~.mlp.spec_of` dict,
the state dict (optionally float16), class names, feature shape and JSON-like metadata. Loading
uses ``torch.load(weights_only=True)``, whose restricted unpickler refuses any other Python object,
so a malicious pickle is rejected before it can run.
"""
from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .._files import atomic_open
from .mlp import mlp_from_spec, spec_of

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "FORMAT"]

FORMAT = "slt_widgets.checkpoint/1"


class CheckpointError(ValueError):
    """A file that is not a readable slt_widgets checkpoint (corrupt, foreign or unsafe)."""


def _plain(meta, path="meta"):
    """``meta`` converted to JSON types (numpy scalars/arrays become numbers/lists), or a TypeError."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (np.ndarray, torch.Tensor)):
            return o.tolist()
        if isinstance(o, (tuple, set, frozenset)):
            return list(o)
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"{path} holds a {type(o).__name__}; only numbers, strings, lists and dicts can be "
                        "stored (convert it first)")
    return json.loads(json.dumps(meta, default=default))


def save_checkpoint(path, model: nn.Module, class_names: Sequence[str], feature_shape: Sequence[int],
                    meta: dict | None = None, half: bool = False) -> Path:
    """Write ``model`` (built by :func:`~.mlp.mlp`) and its labels to ``path`` atomically.

    class_names: ``K`` names, one per output; feature_shape: shape of one input drawn as a template,
    e.g. ``(23, 11)`` (its product must be the model's ``d_in``); meta: JSON-like extras (metrics,
    feature settings, training history); half: store floating tensors as float16 (half the size;
    :func:`load_checkpoint` returns float32). Returns the path written.
    """
    path = Path(path)
    spec = spec_of(model)
    names = [str(c) for c in class_names]
    if len(names) != spec["d_out"]:
        raise ValueError(f"{len(names)} class names for a model with {spec['d_out']} outputs; pass one name per output")
    shape = [int(s) for s in feature_shape]
    if int(np.prod(shape)) != spec["d_in"]:
        raise ValueError(f"feature_shape {tuple(shape)} has {int(np.prod(shape))} elements but the model takes "
                         f"d_in={spec['d_in']} inputs")
    dtype = torch.float16 if half else torch.float32
    state = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).clone()
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "spec": spec, "state_dict": state, "class_names": names,
               "feature_shape": shape, "meta": _plain(meta or {}), "stored_dtype": str(dtype).replace("torch.", "")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:        # mkstemp + os.replace: never half a file, never through a link
        torch.save(payload, f)
    return path


def load_checkpoint(path) -> tuple[nn.Sequential, dict]:
    """Read a file written by :func:`save_checkpoint`: ``(model in eval mode, float32, info)``.

    info: ``{"class_names": tuple[K], "feature_shape": tuple, "spec": dict, "meta": dict,
    "stored_dtype": str, "path": str}``. Raises :class:`CheckpointError` naming the file for
    truncated/corrupt files, foreign files (a bare state_dict, any other ``.pt``) and pickles
    holding Python objects (refused unexecuted), and ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; write one with slt_widgets.models.save_checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        why = re.search(r"GLOBAL ([\w.]+)", str(e))
        raise CheckpointError(
            f"{path} was refused: it holds Python objects other than tensors and plain containers"
            f"{' (it would call ' + why.group(1) + ')' if why else ''}; nothing in it was executed. Load files you "
            "trust with torch.load directly, then re-save the model with slt_widgets.models.save_checkpoint") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, IndexError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]}); "
                              "re-save or rebuild it (python -m slt_widgets.models.train_demo for the demo)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        kind = ("a bare state_dict" if isinstance(payload, dict) and payload
                and all(isinstance(v, torch.Tensor) for v in payload.values())
                else f"a {type(payload).__name__}")
        raise CheckpointError(f"{path} is not a slt_widgets checkpoint (it holds {kind}, no {FORMAT!r} marker). "
                              "Build the model with slt_widgets.models.mlp(...), load its weights with "
                              "load_state_dict, then save it with slt_widgets.models.save_checkpoint")
    try:
        model = mlp_from_spec(dict(payload["spec"]))
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
        model.load_state_dict(state, strict=True)
        info = {"class_names": tuple(payload["class_names"]), "feature_shape": tuple(payload["feature_shape"]),
                "spec": dict(payload["spec"]), "meta": dict(payload["meta"]),
                "stored_dtype": payload.get("stored_dtype", "float32"), "path": str(path)}
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise CheckpointError(f"{path} is a damaged slt_widgets checkpoint ({type(e).__name__}: {str(e)[:200]}); "
                              "re-save it with slt_widgets.models.save_checkpoint") from None
    model.eval()
    return model, info
