"""User-supplied strings never reach an HTML-bearing widget unescaped (issue 15, "Unsafe").

ipywidgets' ``HTML`` renders its ``value`` with ``innerHTML``. A class name read from an untrusted
``.npz`` such as ``<img src=x onerror=…>`` must arrive there as text. Each test walks every
``HTML`` widget under a view, parses its markup and checks that (a) no element carries an event
handler attribute and (b) no element outside the widgets' own small vocabulary exists, so a
payload that only renamed the tag would still be caught.
"""
from __future__ import annotations

from html.parser import HTMLParser

import ipywidgets as W
import numpy as np
import pytest

from slt_widgets.datasets import FrameDataset, load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp
from slt_widgets.widgets import ConfusionPairs, EmbeddingView, Explorer, LayerSummary, SpectrumView
from slt_widgets.widgets._busy import BusyIndicator
from slt_widgets.widgets._html import text

EVIL = '<img src=x onerror="window.__pwned=1">'
OWN_TAGS = {"span", "div", "small", "b", "style", "table", "thead", "tbody", "tr", "td", "th"}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.handlers = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [a for a, _ in attrs if a.lower().startswith("on")]


def html_values(widget) -> list[str]:
    """``value`` of every ``W.HTML`` under ``widget`` (children of boxes, recursively)."""
    out, todo, seen = [], [widget], set()
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        if isinstance(w, W.HTML):
            out.append(w.value)
        todo += [c for c in getattr(w, "children", ()) if isinstance(c, W.Widget)]
        todo += [v for v in vars(w).values() if isinstance(v, W.DOMWidget)]
    return out


def assert_inert(values: list[str]) -> None:
    for v in values:
        p = _Tags()
        p.feed(v)
        assert not p.handlers, f"event handler attribute {p.handlers} in {v!r}"
        assert set(p.tags) <= OWN_TAGS, f"foreign element {set(p.tags) - OWN_TAGS} in {v!r}"


def test_text_escapes_markup_and_quotes():
    assert text(EVIL) == "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;"
    assert text("a'b & c") == "a&#x27;b &amp; c"
    assert text(3) == "3"


@pytest.fixture(scope="module")
def evil_digits():
    ds = load_digits_dataset("all")
    names = (EVIL,) + tuple(f"{EVIL[:-1]} {k}>" for k in range(1, 9)) + ("<script>window.__pwned=2</script>",)
    return FrameDataset.from_arrays(ds.features, ds.labels, names, feature_shape=ds.feature_shape)


@pytest.fixture(scope="module")
def evil_model(evil_digits):
    return train_toy_mlp(evil_digits, hidden=(24, 16), steps=60, lr=1e-2, seed=0)


def test_explorer_status_and_every_html_child_show_class_names_as_text(evil_model, evil_digits):
    ex = Explorer(evil_model, evil_digits, cls=EVIL, max_samples=300)
    assert "&lt;img" in ex.status.value            # the name is there, as text
    assert_inert(html_values(ex))
    ex.select(cls=9)                                 # the <script> class, then a cluster
    ex.select(cluster=0)
    assert "&lt;script&gt;" in ex.status.value
    assert_inert(html_values(ex))
    assert not ex.error_area.errors


def test_confusion_pairs_and_layer_summary_are_inert(evil_model, evil_digits):
    pairs = ConfusionPairs(evil_model, evil_digits, 0, 9, max_samples=200)
    assert_inert(html_values(pairs))
    summary = LayerSummary(evil_model, evil_digits, node_samples=100, max_train=300, max_eval=300)
    assert_inert(html_values(summary))


def test_embedding_legend_spectrum_legend_and_busy_message_escape():
    ev = EmbeddingView()
    ev.set_points(np.zeros((3, 2), np.float32), np.array([0, 1, 1]), names=[EVIL, "<b onclick=x>"])
    assert "&lt;img" in ev.legend.value
    assert_inert([ev.legend.value])
    sv = SpectrumView()
    sv.set_spectra({EVIL: np.array([3.0, 2.0, 1.0])})
    assert "&lt;img" in sv.legend.value
    assert_inert([sv.legend.value])
    busy = BusyIndicator()
    with busy.running(EVIL):
        assert "&lt;img" in busy.value
        assert_inert([busy.value])


def test_es_modules_never_write_markup():
    """The front-end modules put data into the DOM with ``textContent`` only."""
    from pathlib import Path
    import re
    static = Path(__import__("slt_widgets.widgets", fromlist=["x"]).__file__).parent / "static"
    sinks = re.compile(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|createContextualFragment")
    modules = sorted(static.glob("*.js"))
    assert modules
    for js in modules:
        hits = [f"{js.name}:{i}" for i, line in enumerate(js.read_text().splitlines(), 1) if sinks.search(line)]
        assert not hits, f"markup sinks in ES modules: {hits}; set textContent instead"


def test_dollar_signs_in_class_names_are_drawn_as_text_in_every_png(tmp_path):
    """Matplotlib would parse ``$\\foo$`` as mathtext and fail every static render."""
    ds = load_digits_dataset("eval")
    names = ("$\\foo$",) + tuple(f"${k}" for k in range(1, 10))
    ds = FrameDataset.from_arrays(ds.features, ds.labels, names, feature_shape=ds.feature_shape)
    model = train_toy_mlp(ds, hidden=(12,), steps=30, seed=0)
    ex = Explorer(model, ds, cls=0, max_samples=80)
    ex.embedding.set_points(ex.embedding.xy, np.arange(len(ex.embedding.xy)) % 2, names=["$\\foo$", "$\\bar$"])
    for name, write in {"explorer": ex.to_png, "tree": ex.tree.to_png, "templates": ex.templates.to_png,
                        "spectra": ex.spectra.to_png, "embedding": ex.embedding.to_png}.items():
        p = tmp_path / f"{name}.png"
        write(p)
        assert p.read_bytes()[:4] == b"\x89PNG", name
    assert not ex.error_area.errors
    import matplotlib
    assert matplotlib.rcParams["text.parse_math"] is True          # the user's setting is left alone
