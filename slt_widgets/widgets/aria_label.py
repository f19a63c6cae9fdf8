"""`AriaLabel`: the accessible name of a view built from ipywidgets boxes and bqplot figures.

ipywidgets has no ARIA traits (jupyter-widgets/ipywidgets#2650) and bqplot draws its title as SVG
text that names nothing, so a screen reader meets the Explorer, a spectrum or an embedding as an
anonymous ``div``. This invisible anywidget, placed as a child of such a box, sets ``role`` and
``aria-label`` on the box's own DOM node and keeps them up with its traits; the view writes
``label`` from its state (the same words as its picture's ``alt``).
"""
from __future__ import annotations

import anywidget
import traitlets as T

from ._anywidget_base import STATIC, bundle_esm

__all__ = ["AriaLabel", "aria_label"]

ROLES = ("region", "figure", "img", "group")


class AriaLabel(anywidget.AnyWidget):
    """``AriaLabel(label, role="figure")``: names its parent box ``label`` (role ``region`` for
    a composed view, ``figure`` for a plot, ``img``, ``group``). Draws nothing and leaves no
    picture; ``layout.display`` is "none" so boxes lay out as without it."""

    _esm = bundle_esm("aria_label.js")
    _css = STATIC / "aria_label.css"
    label = T.Unicode("").tag(sync=True)
    role = T.Enum(ROLES, default_value="figure").tag(sync=True)

    def __init__(self, label: str = "", role: str = "figure", **kw):
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
        super().__init__(label=str(label), role=role, **kw)
        self.layout.display = "none"
        self.add_class("slt-aria-label")


def aria_label(box, label: str, role: str = "figure") -> AriaLabel:
    """Append an :class:`AriaLabel` to ``box.children`` and return it (set its ``label`` later)."""
    tag = AriaLabel(label, role)
    box.children = (*box.children, tag)
    return tag
