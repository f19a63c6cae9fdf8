"""Common base of the slt anywidgets: ES-module bundling, strict kwargs, robust front-end
updates, the static PNG next to the live view, and ``to_png``."""
from __future__ import annotations

import difflib
import io
import logging
import re
from pathlib import Path

import anywidget
import traitlets

from .._files import atomic_write_bytes
from ._static import EMBED_DPI, literal_text, with_png

__all__ = ["STATIC", "bundle_esm", "SLTAnyWidget"]

STATIC = Path(__file__).parent / "static"
_LOCAL_IMPORT = re.compile(r'^import\s+\{[^}]*\}\s+from\s+"\./([\w.-]+\.js)";[ \t]*\n', re.M)
_log = logging.getLogger(__name__)


def bundle_esm(name: str) -> str:
    """Source of ``static/<name>`` as ONE ES module.

    anywidget loads ``_esm`` from a string, where ``import … from "./codec.js"`` cannot resolve.
    Each such line (kept in the files so node tests can import them) is removed and the imported
    file is inlined before the module, depth first and once each. Names must not clash.
    """
    seen: list[str] = []

    def visit(fname: str) -> str:
        path = STATIC / fname
        if not path.is_file():
            raise FileNotFoundError(f"ES module {path} is missing from the package")
        src = path.read_text(encoding="utf-8")
        parts = []
        for dep in _LOCAL_IMPORT.findall(src):
            if dep not in seen:
                seen.append(dep)
                parts.append(f"// ---- inlined from {dep} ----\n" + visit(dep))
        parts.append(_LOCAL_IMPORT.sub("", src))
        return "\n".join(parts)

    seen.append(name)
    return strip_comments(visit(name))


def strip_comments(src: str) -> str:
    """``src`` without its whole-line comments (``// …`` lines and ``/* … */`` blocks that start
    a line) and without blank lines. Every widget instance stores its ``_esm`` in a saved
    notebook's widget state, so the comments would be stored once per view (about 28 % of the
    bytes). Lines inside a multi-line template literal are kept as they are."""
    out, in_block, in_template = [], False, False
    for line in src.split("\n"):
        s = line.strip()
        if in_template:
            out.append(line)
        elif in_block:
            in_block = "*/" not in s
            continue
        elif s.startswith("/*"):
            in_block = "*/" not in s
            continue
        elif s.startswith("//") or not s:
            continue
        else:
            out.append(line)
        if line.count("`") % 2:
            in_template = not in_template
    return "\n".join(out) + "\n"


class SLTAnyWidget(anywidget.AnyWidget):
    """Base class: subclasses set ``_esm = bundle_esm("x.js")``, ``_css = STATIC / "x.css"`` and
    implement ``_figure()`` (a matplotlib Figure of the current state)."""

    #: Shown in the widget when a value sent from the browser was rejected ("" = no error).
    error = traitlets.Unicode("").tag(sync=True)
    #: Add a static ``image/png`` to the display bundle (seen when the notebook has no kernel).
    embed_png = traitlets.Bool(True)

    def __init__(self, **kwargs):
        names = set(self.class_trait_names())
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            public = sorted(n for n in names if not n.startswith("_"))
            hints = {k: difflib.get_close_matches(k, public, n=1) for k in unknown}
            msg = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
            raise TypeError(f"{type(self).__name__} got unknown keyword argument(s) {msg}")
        super().__init__(**kwargs)

    # -- updates from the browser ---------------------------------------------------------
    def set_state(self, sync_data):
        """Apply an update from the front end. A malformed or out-of-range value is rejected
        as a whole: the old values stay, ``error`` says why, and the browser is sent the valid
        state back, so the widget stays usable."""
        keys = [k for k in sync_data if k in self.keys]
        before = {k: getattr(self, k) for k in keys}
        try:
            super().set_state(sync_data)
        except Exception as err:  # noqa: BLE001 - anything from the browser must not kill the widget
            with self.hold_trait_notifications():
                for k, v in before.items():
                    self.set_trait(k, v)
            self.error = f"ignored a value from the browser: {err}"
            _log.warning("%s: %s", type(self).__name__, self.error)
            self.send_state(key=keys)
        else:
            if self.error and "error" not in sync_data:
                self.error = ""

    # -- static rendering -----------------------------------------------------------------
    def _figure(self):  # pragma: no cover - every subclass implements it
        raise NotImplementedError

    @literal_text
    def to_png(self, path=None, dpi: int = 100):
        """Render the current state with matplotlib (Agg) to a PNG file at ``path`` and return the
        path; with ``path=None`` return the PNG bytes instead. Same colour maps, titles, labels."""
        fig = self._figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        data = buf.getvalue()
        if path is None:
            return data
        atomic_write_bytes(path, data)
        return Path(path)

    def _static_png(self, dpi: int = EMBED_DPI) -> bytes:
        """The picture :func:`._static.picture` embeds (and composes into an Explorer's)."""
        return self.to_png(None, dpi=dpi)

    def _repr_mimebundle_(self, **kwargs):
        return with_png(super()._repr_mimebundle_(**kwargs), self)
