"""Static figures (matplotlib Agg) for the report; every function writes one PNG and returns its name."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._files import atomic_open  # noqa: E402
from ..engine import layer_label  # noqa: E402,F401 (the package's one layer labeller, re-exported for the stages)

__all__ = ["save", "layer_label", "template_image", "plt", "set_origin"]

# Speech templates put band 0 (lowest frequency) at the bottom; images keep row 0 on top.
_ORIGIN = {"value": "lower"}


def set_origin(dataset) -> None:
    """Pick the image origin for ``dataset``'s templates (spliced speech: "lower", else "upper")."""
    _ORIGIN["value"] = "lower" if getattr(dataset, "_frames", None) is not None else "upper"




def save(fig, out: Path, name: str) -> str:
    with atomic_open(Path(out) / name, "wb") as f:
        fig.savefig(f, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return name


def template_image(ax, vec, shape, title=None, symmetric=True, cmap=None):
    """Draw a feature/SLT vector ``[F]`` as a ``shape`` image (bands × frames; see :func:`set_origin`)."""
    img = np.asarray(vec, dtype=float).reshape(shape) if len(shape) == 2 else np.asarray(vec)[None]
    if symmetric:
        v = np.nanmax(np.abs(img)) or 1.0
        ax.imshow(img, origin=_ORIGIN["value"], aspect="auto", cmap=cmap or "RdBu_r", vmin=-v, vmax=v)
    else:
        ax.imshow(img, origin=_ORIGIN["value"], aspect="auto", cmap=cmap or "viridis")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
