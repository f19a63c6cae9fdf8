"""`load_demo`: the two pretrained demo networks and their held-out speech, offline and instant.

Everything comes from package data in ``slt_widgets/data/`` (written by
``python -m slt_widgets.models.train_demo``): ``demo_small.pt`` (5 × 256 ReLU, no
regularisation), ``demo_wide.pt`` (wide, batch norm + 20 % dropout), the ``dev``/``eval``/
``xeng`` splits as :class:`~slt_widgets.datasets.FrameDataset` files and ``table1.json``.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

__all__ = ["load_demo", "demo_table", "DEMO_NAMES", "DEMO_SPLITS", "DemoDataMissingError", "demo_data_dir"]

DEMO_NAMES = ("small", "wide")
DEMO_SPLITS = ("eval", "dev", "xeng")
CHECKPOINT_FILES = {"small": "demo_small.pt", "wide": "demo_wide.pt"}
REBUILD = "python -m slt_widgets.models.train_demo"


class DemoDataMissingError(FileNotFoundError):
    """The demo's package data is not there (a source checkout without the built files)."""


def demo_data_dir() -> Path:
    """Folder of the demo's package data (``slt_widgets/data``)."""
    return Path(str(resources.files("slt_widgets") / "data"))


def _file(name: str, data_dir) -> Path:
    path = Path(data_dir) / name if data_dir is not None else demo_data_dir() / name
    if not path.is_file():
        raise DemoDataMissingError(
            f"demo file {path} is missing; rebuild the demo data with `{REBUILD}` "
            "(or reinstall slt_widgets from a wheel, which ships it)")
    return path


def load_demo(name: str = "small", split: str = "eval", data_dir=None):
    """A pretrained demo network and one of its held-out splits: ``(model, dataset)``.

    name: ``"small"`` (5 × 256 ReLU, no regularisation) or ``"wide"`` (wider layers, batch
    norm and 20 % dropout); split: ``"eval"`` (every analysis), ``"dev"`` (trains the LDA
    models) or ``"xeng"`` (cross-engine test: Festival voice, never seen in training).
    data_dir: a folder written by ``train_demo --out`` (default: the package data).

    Returns the model (``nn.Sequential`` in eval mode, float32, input ``[n, 253]`` →
    logits ``[n, 40]``) and a :class:`~slt_widgets.datasets.FrameDataset` with ``N`` frames
    (features ``[N, 253]`` = 23 log-Mel bands × 11 frames, labels ``[N]`` over 39 ARPAbet
    phonemes + ``SIL``, audio for playback). Offline; no download.
    """
    if not isinstance(name, str) or name.lower() not in DEMO_NAMES:
        raise ValueError(f"unknown demo network {name!r}; choose one of {', '.join(map(repr, DEMO_NAMES))}")
    if not isinstance(split, str) or split.lower() not in DEMO_SPLITS:
        raise ValueError(f"unknown demo split {split!r}; choose one of {', '.join(map(repr, DEMO_SPLITS))} "
                         "(the training split is not shipped; rebuild it with the corpus builder)")
    from .datasets.frames import FrameDataset
    from .models.checkpoint import load_checkpoint
    model, info = load_checkpoint(_file(CHECKPOINT_FILES[name.lower()], data_dir))
    ds = FrameDataset.load(_file(f"{split.lower()}.npz", data_dir))
    if tuple(ds.class_names) != tuple(info["class_names"]) or ds.n_features != info["spec"]["d_in"]:
        raise ValueError(f"demo data out of step: {split}.npz and {CHECKPOINT_FILES[name.lower()]} differ in classes "
                         f"or feature size; rebuild both with `{REBUILD}`")
    ds.name = f"demo-{split.lower()}"
    ds.meta["demo"] = {"network": name.lower(), "split": split.lower(), "architecture": info["spec"],
                       "metrics": info["meta"].get("table1", {})}
    return model, ds


def demo_table(data_dir=None) -> dict:
    """The Table 1 analogue of the demo nets: ``{"rows": {net: {split: accuracy}}, ...}`` from ``table1.json``."""
    return json.loads(_file("table1.json", data_dir).read_text())
