"""Busy indicator and error area shared by the composed widgets.

Callbacks run in the kernel; a user who clicks sees nothing until they return. The busy
element (CSS class ``slt-busy``) is made visible before the work starts — ipywidgets sends
the layout change at once, so the browser shows it while the kernel computes — and an
exception raised in a callback is written to an ``ipywidgets.Output`` (class
``slt-errors``) instead of disappearing into the kernel log.
"""
from __future__ import annotations

import functools
import traceback
from contextlib import contextmanager

import ipywidgets as W

from ._html import text

__all__ = ["BusyIndicator", "ErrorArea", "guarded", "single_blas"]


def _note(message: str) -> str:
    # one line, never wrapped: a squeezed note must not make its row taller (it is hidden most of the time)
    return f"<span style='white-space:nowrap'><span class='slt-spinner'>⏳</span> {text(message)}</span>"


class BusyIndicator(W.HTML):
    """A small "computing…" label that is visible only while ``busy`` work runs.

    Nested ``with indicator.running("msg"):`` blocks keep it visible until the outermost ends.
    ``count`` records how many times it was shown (tests and the benchmark read it).
    """

    def __init__(self, **kw):
        super().__init__(value=_note("computing…"), **kw)
        self.add_class("slt-busy")
        self.layout.visibility = "hidden"
        self._depth = 0
        self.count = 0

    @property
    def busy(self) -> bool:
        return self._depth > 0

    @contextmanager
    def running(self, message: str = "computing…"):
        self._depth += 1
        if self._depth == 1:
            self.count += 1
            self.value = _note(message)
            self.layout.visibility = "visible"
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.layout.visibility = "hidden"


class ErrorArea(W.Output):
    """Output area (CSS class ``slt-errors``) that collects exceptions raised in callbacks.

    Works with or without a running kernel: it appends to ``outputs`` directly.
    ``errors`` holds the exception objects, newest last.
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.add_class("slt-errors")
        self.errors: list[BaseException] = []

    def report(self, exc: BaseException, where: str = "") -> None:
        self.errors.append(exc)
        head = f"{type(exc).__name__} in {where}: {exc}" if where else f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
        self.append_stderr(head + "\n" + tb + "\n")

    def clear(self) -> None:
        self.errors.clear()
        self.outputs = ()


def guarded(method):
    """Decorate a widget callback: exceptions go to ``self.error_area`` and never escape.

    The wrapped method keeps its name for the report ("ValueError in _on_cut: …").
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — shown to the user, not swallowed
            self.error_area.report(exc, method.__name__)
            return None

    return wrapper


_CONTROLLER = None


@contextmanager
def single_blas():
    """Run numpy/scipy BLAS on one thread inside the block.

    The Explorer's linear algebra works on small matrices (≤ max_samples × F); on a busy
    machine a multi-threaded BLAS spins for each of them (measured here: 0.1 s → 1.9 s for one
    selection at load 12 on 2 cores). torch's own thread pool is left alone.
    """
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER = ThreadpoolController()
        ctx = _CONTROLLER.limit(limits=1, user_api="blas")
    except ImportError:                       # threadpoolctl comes with scikit-learn; be safe
        ctx = None
    if ctx is None:
        yield
        return
    with ctx:
        yield
