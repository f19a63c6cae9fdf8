"""TemplatePanel: a grid of spectro-temporal templates (features, SLTs, differences)."""
from __future__ import annotations

import numpy as np
import traitlets

from ._anywidget_base import STATIC, SLTAnyWidget, bundle_esm
from ._codec import ArrayTrait

__all__ = ["TemplatePanel", "KINDS"]

#: "features": sequential colour map over [min, max]; "slt"/"diff": diverging map centred on 0.
KINDS = ("features", "slt", "diff")


class TemplatePanel(SLTAnyWidget):
    """Heatmaps of ``images [P, H, W]`` (H = frequency bands, drawn with band 0 at the bottom;
    W = time frames), each with a colour bar, axis labels and a hover read-out.

    Parameters
    ----------
    images : ``[P, H, W]`` array (a single ``[H, W]`` is one panel). Sent as float32 bytes.
        A flat ``[P, H*W]`` batch from a FrameDataset becomes ``x.reshape(P, *feature_shape)``.
    titles : ``[P]`` strings (default "").
    kinds : ``[P]`` of ``"features" | "slt" | "diff"`` (default: "slt" for panels with negative
        values, "features" otherwise).
    shared_scale : one colour range for all diverging panels and one for all feature panels.
    count, count_unit : shown in the heading: ``"/t/ cluster 2 — 314 frames"``.
    title, x_label, y_label : heading and axis labels.
    x_ticks : ``[W]`` tick values (default centred frame offsets, 11 frames → −5…5);
    y_ticks : ``[H]`` (default 0…H−1). columns : panels per row (0 = min(P, 4)).
    pixel_size : screen pixels per cell (0 = about 160 px for the longer side).
    origin : "lower" (row 0 at the bottom: spectrograms, the default) or "upper" (row 0 at the
        top: digit and MNIST images), as in matplotlib's ``imshow``.
    """

    _esm = bundle_esm("template_panel.js")
    _css = STATIC / "template_panel.css"

    images = ArrayTrait("float32", ndim=3).tag(sync=True)
    titles = traitlets.List(traitlets.Unicode()).tag(sync=True)
    kinds = traitlets.List(traitlets.Unicode()).tag(sync=True)
    shared_scale = traitlets.Bool(False).tag(sync=True)
    count = traitlets.Int(None, allow_none=True).tag(sync=True)
    count_unit = traitlets.Unicode("frames").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    x_label = traitlets.Unicode("frame offset").tag(sync=True)
    y_label = traitlets.Unicode("mel band").tag(sync=True)
    x_ticks = traitlets.List(traitlets.Float(), allow_none=True, default_value=None).tag(sync=True)
    y_ticks = traitlets.List(traitlets.Float(), allow_none=True, default_value=None).tag(sync=True)
    columns = traitlets.Int(0).tag(sync=True)
    pixel_size = traitlets.Int(0).tag(sync=True)
    origin = traitlets.Enum(("lower", "upper"), "lower").tag(sync=True)

    def __init__(self, images, titles=None, kinds=None, **kwargs):
        imgs = self._as_panels(images)
        titles = [""] * len(imgs) if titles is None else list(titles)
        kinds = self.default_kinds(imgs) if kinds is None else list(kinds)
        super().__init__(images=imgs, titles=titles, kinds=kinds, **kwargs)

    @staticmethod
    def _as_panels(images):
        a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
        return a[None] if a.ndim == 2 else a

    @staticmethod
    def default_kinds(images) -> list[str]:
        """``"slt"`` for panels ``[P, H, W]`` with negative values, else ``"features"``."""
        return ["slt" if np.min(p) < 0 else "features" for p in np.asarray(images)]

    def set_panels(self, images, titles=None, kinds=None, **traits):
        """Replace the panels (possibly a different number P) and any other traits at once.
        Shapes as in the constructor; other traits by keyword (``count=314, title="/t/"``)."""
        imgs = self._as_panels(images)
        with self.hold_sync(), self.hold_trait_notifications():
            self.images = imgs
            self.titles = [""] * len(imgs) if titles is None else list(titles)
            self.kinds = self.default_kinds(imgs) if kinds is None else list(kinds)
            for k, v in traits.items():
                if not self.has_trait(k):
                    raise TypeError(f"TemplatePanel has no trait {k!r}")
                setattr(self, k, v)

    @property
    def n_panels(self) -> int:
        return int(self.images.shape[0])

    def _check_len(self, name, value, n):
        if len(value) != n:
            raise traitlets.TraitError(
                f"{name} has {len(value)} entries but images has {n} panels; give one per panel "
                "(use set_panels(images, titles, kinds) to change them together)")

    @traitlets.validate("images")
    def _v_images(self, proposal):
        a = proposal["value"]
        if a.shape[0] < 1 or a.shape[1] < 1 or a.shape[2] < 1:
            raise traitlets.TraitError(f"images must be [P, H, W] with P, H, W ≥ 1; got shape {a.shape}")
        for name in ("titles", "kinds"):
            cur = getattr(self, name)
            if cur and len(cur) != a.shape[0]:
                self._check_len(name, cur, a.shape[0])
        for name, ticks, n in (("x_ticks", self.x_ticks, a.shape[2]), ("y_ticks", self.y_ticks, a.shape[1])):
            if ticks is not None and len(ticks) != n:
                raise traitlets.TraitError(f"{name} has {len(ticks)} values but images are {n} wide on that "
                                           "axis; pass one tick per cell or None")
        return a

    @traitlets.validate("titles")
    def _v_titles(self, proposal):
        self._check_len("titles", proposal["value"], self.n_panels)
        return proposal["value"]

    @traitlets.validate("kinds")
    def _v_kinds(self, proposal):
        kinds = proposal["value"]
        self._check_len("kinds", kinds, self.n_panels)
        bad = sorted({k for k in kinds if k not in KINDS})
        if bad:
            raise traitlets.TraitError(f"kinds must be one of {KINDS}; got {bad}")
        return kinds

    @traitlets.validate("x_ticks", "y_ticks")
    def _v_ticks(self, proposal):
        ticks, name = proposal["value"], proposal["trait"].name
        n = self.images.shape[2 if name == "x_ticks" else 1]
        if ticks is not None and len(ticks) != n:
            raise traitlets.TraitError(f"{name} needs {n} values (one per cell along that axis) or None; "
                                       f"got {len(ticks)}")
        return ticks

    @traitlets.validate("columns", "pixel_size", "count")
    def _v_nonneg(self, proposal):
        v = proposal["value"]
        if v is not None and v < 0:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be ≥ 0; got {v}")
        return v

    def heading(self) -> str:
        """The title line, e.g. ``"/t/ cluster 2 — 314 frames"``."""
        if self.count is None:
            return self.title
        return f"{self.title} — {self.count} {self.count_unit}" if self.title else f"{self.count} {self.count_unit}"

    def _figure(self):
        from ._static_png import render_template_panel
        return render_template_panel(self.images, self.titles, self.kinds, shared_scale=self.shared_scale,
                                     heading=self.heading(), x_label=self.x_label, y_label=self.y_label,
                                     x_ticks=self.x_ticks, y_ticks=self.y_ticks, columns=self.columns,
                                     origin=self.origin)

    def alt_text(self) -> str:
        """What the view shows, in words: the text alternative of its picture (screen readers)."""
        head = self.title + (f" — {self.count} {self.count_unit}" if self.count is not None else "")
        return (f"templates {head}: " if head else "templates: ") + ", ".join(t or "untitled" for t in self.titles)

