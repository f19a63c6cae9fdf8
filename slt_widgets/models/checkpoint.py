"""Checkpoints that carry the architecture as data and load without executing code.

A checkpoint is a ``torch.save`` file of plain containers only: the :func:`~.mlp.spec_of` dict,
the state dict (optionally float16), class names, feature shape and JSON-like metadata. Loading
uses ``torch.load(weights_only=True)``, whose restricted unpickler refuses any other Python object,
so a malicious pickle is rejected before it can run.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections import Counter
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
    """``meta`` converted to JSON types (numpy scalars/arrays become numbers/lists), or a TypeError
    naming the offending entry (``meta['a'][2]``): a non-string key, a cycle, an object."""
    active: set[int] = set()

    def walk(o, where):
        if o is None or isinstance(o, (str, bool, int, float)):
            return o
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, torch.Tensor):
            return o.detach().cpu().tolist()
        if isinstance(o, np.ndarray):
            if o.dtype.kind not in "biufU":
                raise TypeError(f"{where} is a numpy array of {o.dtype}; only numbers and strings can be stored")
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        if isinstance(o, (dict, list, tuple, set, frozenset)):
            if id(o) in active:
                raise TypeError(f"{where} contains itself (a cycle); store a copy without the back-reference")
            if len(active) >= 100:
                raise TypeError(f"{where} is nested more than 100 levels deep; flatten it")
            active.add(id(o))
            try:
                if isinstance(o, dict):
                    out = {}
                    for k, v in o.items():
                        if not isinstance(k, str):
                            raise TypeError(f"{where} has the key {k!r} ({type(k).__name__}); checkpoint meta keys "
                                            f"must be strings (JSON), e.g. {str(k)!r}")
                        out[k] = walk(v, f"{where}[{k!r}]")
                    return out
                items = sorted(o, key=repr) if isinstance(o, (set, frozenset)) else o
                return [walk(v, f"{where}[{i}]") for i, v in enumerate(items)]
            finally:
                active.discard(id(o))
        raise TypeError(f"{where} holds a {type(o).__name__}; only numbers, strings, lists and dicts can be "
                        "stored (convert it first)")
    return walk(meta, path)


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
    if len(set(names)) != len(names):
        dup = sorted(c for c, n in Counter(names).items() if n > 1)
        raise ValueError(f"class names must be unique; {dup} appear more than once")
    if any(s <= 0 for s in shape):
        raise ValueError(f"feature_shape {tuple(shape)} must hold positive sizes")
    if not isinstance(meta, (dict, type(None))):
        raise TypeError(f"meta must be a dict of JSON-like values, got {type(meta).__name__}")
    dtype = torch.float16 if half else torch.float32
    state = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            if not torch.isfinite(v).all():
                raise ValueError(f"weight {k!r} holds NaN or inf values; a checkpoint of it would load as a broken "
                                 "model (retrain, or fix the weights first)")
            if half and v.abs().max() > torch.finfo(torch.float16).max:
                raise ValueError(f"weight {k!r} has values beyond float16's range (±65504); save with half=False")
            v = v.detach().to("cpu", dtype)
        state[k] = v.detach().cpu().clone()
    payload = {"format": FORMAT, "spec": spec, "state_dict": state, "class_names": names,
               "feature_shape": shape, "meta": _plain(meta or {}), "stored_dtype": str(dtype).replace("torch.", "")}
    payload["sha256"] = _digest(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:        # mkstemp + os.replace: never half a file, never through a link
        torch.save(payload, f)
    return path


def _digest(payload: dict) -> str:
    """SHA-256 over everything a checkpoint means (spec, names, shape, meta, every tensor's bytes):
    a flipped byte anywhere in it is refused on load instead of giving a subtly different model."""
    h = hashlib.sha256()
    h.update(json.dumps([payload["spec"], list(payload["class_names"]), list(payload["feature_shape"]),
                         payload.get("meta", {}), payload.get("stored_dtype", "float32")],
                        sort_keys=True).encode())
    state = payload["state_dict"]
    for k in sorted(state):
        t = state[k]
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _damaged(path, what: str) -> CheckpointError:
    return CheckpointError(f"{path} is a damaged slt_widgets checkpoint: {what}; re-save it with "
                           "slt_widgets.models.save_checkpoint")


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _expected_shapes(spec: dict) -> dict:
    """Parameter and buffer shapes :func:`~.mlp.mlp` gives ``spec``, computed without building it."""
    shapes, i = {}, 0
    if spec.get("dropout", 0.0) > 0:
        i += 1
    prev = spec["d_in"]
    for w in spec["hidden"]:
        shapes[f"{i}.weight"], shapes[f"{i}.bias"] = (w, prev), (w,)
        i += 1
        if spec.get("batch_norm", False):
            for b in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{i}.{b}"] = (w,)
            shapes[f"{i}.num_batches_tracked"] = ()
            i += 1
        i += 2 if spec.get("dropout", 0.0) > 0 else 1
        prev = w
    shapes[f"{i}.weight"], shapes[f"{i}.bias"] = (spec["d_out"], prev), (spec["d_out"],)
    return shapes


def _checked(payload: dict, path):
    """``(spec, float32 state, info)`` after checking every field against the others, before any
    module is built: the spec against the state dict's shapes (a 3 kB file claiming 12000-wide
    layers is refused at once), class names against ``d_out``, ``feature_shape`` against ``d_in``,
    every weight finite."""
    for key in ("spec", "state_dict", "class_names", "feature_shape"):
        if key not in payload:
            raise _damaged(path, f"no {key!r} entry")
    spec, state = payload["spec"], payload["state_dict"]
    if not isinstance(spec, dict) or not isinstance(state, dict):
        raise _damaged(path, "its spec and state_dict must be dicts")
    if set(spec) - {"d_in", "hidden", "d_out", "batch_norm", "dropout"} or not {"d_in", "hidden", "d_out"} <= set(spec):
        raise _damaged(path, f"architecture spec keys {sorted(map(str, spec))} are not d_in, hidden, d_out "
                             "[, batch_norm, dropout]")
    hidden = spec["hidden"]
    if not isinstance(hidden, (list, tuple)) or len(hidden) > len(state):
        raise _damaged(path, "spec 'hidden' must be a list of layer widths, one Linear per width in the state dict")
    if not all(_whole(v) and v > 0 for v in (spec["d_in"], spec["d_out"], *hidden)):
        raise _damaged(path, f"spec widths must be positive ints (d_in={spec['d_in']!r}, hidden={list(hidden)!r}, "
                             f"d_out={spec['d_out']!r})")
    bn, dropout = spec.get("batch_norm", False), spec.get("dropout", 0.0)
    if not isinstance(bn, bool) or isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= dropout < 1.0:
        raise _damaged(path, f"spec batch_norm={bn!r} / dropout={dropout!r} (need True/False and 0 <= p < 1)")
    spec = {"d_in": spec["d_in"], "hidden": list(hidden), "d_out": spec["d_out"], "batch_norm": bn,
            "dropout": float(dropout)}
    want = _expected_shapes(spec)
    if set(state) != set(want):
        missing, extra = sorted(set(want) - set(state))[:4], sorted(map(str, set(state) - set(want)))[:4]
        raise _damaged(path, f"the state dict does not match its spec (missing {missing}, unexpected {extra})")
    out = {}
    for k, shape in want.items():
        t = state[k]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise _damaged(path, f"{k} is {got} but the spec says {shape}")
        if not t.is_contiguous() or t.untyped_storage().nbytes() < t.numel() * t.element_size():
            raise _damaged(path, f"{k} has an unusual memory layout (a crafted file?)")
        if k.endswith("num_batches_tracked"):
            if t.dtype != torch.int64:
                raise _damaged(path, f"{k} must be int64, got {t.dtype}")
            out[k] = t
            continue
        if not t.is_floating_point():
            raise _damaged(path, f"{k} holds {t.dtype} values, not floats")
        t = t.float()
        if not torch.isfinite(t).all():
            raise _damaged(path, f"{k} holds NaN or inf values (a broken model); retrain or repair it")
        out[k] = t
    names, shape = payload["class_names"], payload["feature_shape"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names) \
            or len(names) != spec["d_out"]:
        n = len(names) if isinstance(names, (list, tuple)) else type(names).__name__
        raise _damaged(path, f"{n} class names for a model with d_out={spec['d_out']} outputs")
    if len(set(names)) != len(names):
        raise _damaged(path, f"class names repeat ({sorted(c for c, n in Counter(names).items() if n > 1)[:5]})")
    if not isinstance(shape, (list, tuple)) or not shape or not all(_whole(v) and v > 0 for v in shape) \
            or int(np.prod(shape)) != spec["d_in"]:
        raise _damaged(path, f"feature_shape {shape!r} does not multiply to d_in={spec['d_in']}")
    meta = payload.get("meta", {})
    if not isinstance(meta, dict):
        raise _damaged(path, f"meta is a {type(meta).__name__}, not a dict")
    if "sha256" in payload and payload["sha256"] != _digest(payload):      # files before the digest have none
        raise _damaged(path, "its contents do not match the SHA-256 stored with them (a changed or corrupted byte)")
    stored = payload.get("stored_dtype", "float32")
    info = {"class_names": tuple(names), "feature_shape": tuple(int(v) for v in shape), "spec": spec,
            "meta": dict(meta), "stored_dtype": stored if stored in ("float16", "float32") else "float32",
            "path": str(path)}
    return spec, out, info


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
    except Exception as e:  # noqa: BLE001 — the restricted unpickler ran no code: any failure means a damaged file
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
        spec, state, info = _checked(payload, path)
        with torch.device("meta"):                 # shapes only: nothing is allocated
            model = mlp_from_spec(spec)
        model.load_state_dict(state, strict=True, assign=True)   # the modules take the loaded tensors
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 — plain containers of odd types: damaged, whatever broke
        raise CheckpointError(f"{path} is a damaged slt_widgets checkpoint ({type(e).__name__}: {str(e)[:200]}); "
                              "re-save it with slt_widgets.models.save_checkpoint") from None
    model.eval()
    return model, info
