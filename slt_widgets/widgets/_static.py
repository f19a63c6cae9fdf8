"""Static PNG renders of the bqplot views with matplotlib (no browser, no network)."""
from __future__ import annotations

from pathlib import Path

from .._files import atomic_open

__all__ = ["save_axes_png", "render_png_bytes", "literal_text"]


def literal_text(fn):
    """Decorate a function that draws with matplotlib: ``$`` in labels is text, never mathtext.

    A class named ``$\\foo$`` would otherwise make every render raise a mathtext parse error."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib
        with matplotlib.rc_context({"text.parse_math": False}):
            return fn(*args, **kwargs)
    return wrapper



@literal_text
def save_axes_png(render, path, figsize=(5, 3.6), dpi: int = 120) -> str:
    """Call ``render(ax)`` on a fresh Agg figure and save it to ``path`` (parents created)."""
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"to_png writes PNG files; give a path ending in .png, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    render(ax)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    return str(path)


@literal_text
def render_png_bytes(render, figsize=(5, 3.6), dpi: int = 120) -> bytes:
    """PNG bytes of ``render(ax)`` on a fresh Agg figure."""
    import io
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    render(fig.add_subplot(111))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
