"""Static PNGs of the views: matplotlib (Agg) renders, and the ``image/png`` every displayed view
leaves next to its live widget in a saved notebook (no browser, no network).

Static viewers (GitHub, nbviewer, ``nbconvert --to html`` without widget state, an untrusted
notebook in JupyterLab) cannot run widget code; they show the best mimetype they can, which is
this picture. A composed view (the Explorer, ``ConfusionPairs``, …) leaves ONE picture: its
children's pictures laid out as its boxes are (``HBox`` side by side, ``VBox`` stacked).
"""
from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

from .._files import atomic_open

__all__ = ["save_axes_png", "render_png_bytes", "picture", "compose_pngs", "with_png", "StaticPNG",
           "register_box_pictures", "describe", "literal_text"]

_log = logging.getLogger(__name__)
#: dpi of the picture embedded at display time (small: it only has to be legible, and it is
#: stored base64 in the notebook).
EMBED_DPI = 80


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
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    render(fig.add_subplot(111))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ------------------------------------------------------------------ pictures of composed views
def picture(widget, dpi: int = EMBED_DPI) -> bytes | None:
    """PNG bytes of ``widget`` or None when it draws nothing worth a picture (a dropdown, a
    slider, a hidden box). A view that renders itself (``_static_png(dpi)``) gives its own
    picture; any other ``ipywidgets.Box`` the composition of its children's pictures."""
    import ipywidgets as W

    layout = getattr(widget, "layout", None)
    if layout is not None and getattr(layout, "display", None) == "none":
        return None
    own = getattr(widget, "_static_png", None)
    if own is not None:
        return own(dpi)
    if isinstance(widget, W.Box):
        return _compose_box(widget, dpi)
    return None


def _compose_box(box, dpi: int) -> bytes | None:
    import ipywidgets as W

    parts = [p for p in (picture(c, dpi) for c in box.children) if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    flow = str(getattr(getattr(box, "layout", None), "flex_flow", None) or "")
    if "wrap" in flow and not flow.startswith("column"):
        # a wrapping row (the Explorer's views) is drawn two views a row, as a wide screen shows it
        rows = [parts[i:i + 2] for i in range(0, len(parts), 2)]
        return compose_pngs([r[0] if len(r) == 1 else compose_pngs(r, "horizontal") for r in rows], "vertical")
    return compose_pngs(parts, "horizontal" if isinstance(box, W.HBox) else "vertical")


def compose_pngs(pngs, direction: str = "vertical", gap: int = 8) -> bytes:
    """One PNG of ``pngs`` (a list of PNG bytes) side by side (``"horizontal"``, top-aligned)
    or stacked (``"vertical"``, left-aligned) on white, ``gap`` pixels apart. Pixels are
    copied, not resampled, so text stays as sharp as in each part."""
    from PIL import Image

    if direction not in ("horizontal", "vertical"):
        raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
    if not pngs:
        raise ValueError("compose_pngs needs at least one PNG")
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    horizontal = direction == "horizontal"
    along = sum(im.width if horizontal else im.height for im in images) + gap * (len(images) - 1)
    across = max(im.height if horizontal else im.width for im in images)
    out = Image.new("RGB", (along, across) if horizontal else (across, along), "white")
    pos = 0
    for im in images:
        out.paste(im, (pos, 0) if horizontal else (0, pos))
        pos += (im.width if horizontal else im.height) + gap
    buf = io.BytesIO()
    out.save(buf, format="png", optimize=True)
    return buf.getvalue()


def with_png(bundle, widget):
    """``bundle`` (an ipywidgets/anywidget ``_repr_mimebundle_`` result: a dict or ``(data,
    metadata)``) with ``image/png`` of :func:`picture` added, unless ``widget.embed_png`` is
    False. A picture that fails is logged and left out: the live view must still display."""
    if bundle is None or not getattr(widget, "embed_png", True):
        return bundle
    data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
    data = dict(data)
    try:
        png = picture(widget)
    except Exception as err:  # noqa: BLE001 - the live widget must display even if the PNG fails
        _log.warning("%s: static PNG failed: %s", type(widget).__name__, err)
        png = None
    if png is not None:
        data["image/png"] = base64.b64encode(png).decode("ascii")
        alt = describe(widget)
        meta = dict(meta)
        # "alt" for front ends that read it; the text/plain fallback says the same in words
        meta["image/png"] = {**meta.get("image/png", {}), "alt": alt, "needs_background": "light"}
        if alt:
            data["text/plain"] = f"{type(widget).__name__}: {alt}"
    return data, meta


def describe(widget) -> str:
    """The picture's text alternative: what each view in ``widget`` shows, in words (the
    ``alt`` of the exported ``<img>``, read by screen readers)."""
    import ipywidgets as W

    own = _describe_view(widget)
    if own is not None:
        return own
    if isinstance(widget, W.Box):
        parts = [d for d in (describe(c) for c in widget.children
                             if getattr(getattr(c, "layout", None), "display", None) != "none") if d]
        return "; ".join(parts)
    return ""


def _describe_view(w) -> str | None:
    """A view's own words (``alt_text()``), or None for a box or a control; asked of the view
    so that this module imports no view (the views import it)."""
    own = getattr(w, "alt_text", None)
    return own() if callable(own) else None


class StaticPNG:
    """Mixin (before ``ipywidgets.VBox`` in the bases) for a composed view: its display bundle
    carries ``image/png`` — a picture of all its views — next to the widget view.

    ``embed_png = False`` on an instance leaves the picture out. A view with ``to_bytes(dpi)``
    (a bqplot view) is pictured by it; any other by composing its children (:func:`picture`).
    """

    embed_png = True

    def _static_png(self, dpi: int = EMBED_DPI) -> bytes | None:
        to_bytes = getattr(self, "to_bytes", None)
        if to_bytes is not None:
            return to_bytes(dpi)
        return _compose_box(self, dpi)

    def _repr_mimebundle_(self, **kwargs):
        return with_png(super()._repr_mimebundle_(**kwargs), self)


def _box_picture(box):
    """``image/png`` formatter of any ``ipywidgets.Box`` (a ``Tab``, an ``HBox`` …) that holds
    slt views: their composed picture; None (no picture) for boxes without one, and for our own
    views, whose ``_repr_mimebundle_`` already carries it (IPython would otherwise draw it twice)."""
    if hasattr(box, "_static_png") or not getattr(box, "embed_png", True):
        return None
    try:
        png = _compose_box(box, EMBED_DPI)
        return None if png is None else (png, {"alt": describe(box), "needs_background": "light"})
    except Exception as err:  # noqa: BLE001 - the live widget must display even if the PNG fails
        _log.warning("%s: static PNG failed: %s", type(box).__name__, err)
        return None


def register_box_pictures(ip=None) -> bool:
    """Give every displayed ``ipywidgets.Box`` that contains slt views (``W.Tab([map_a, map_b])``,
    ``W.HBox([tree, panel])``) the composed ``image/png`` of its views, as our own composed views
    have. Done once on import inside IPython; returns whether a formatter was registered."""
    if ip is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        ip = get_ipython()
    if ip is None:
        return False
    import ipywidgets as W
    ip.display_formatter.formatters["image/png"].for_type(W.Box, _box_picture)
    return True
