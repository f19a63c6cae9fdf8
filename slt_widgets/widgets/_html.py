"""One rule for user-supplied strings in HTML-bearing widgets: escape them.

ipywidgets' ``HTML`` (and ``Label`` with ``description_allow_html``) renders its value with
``innerHTML``, so a class name such as ``<img src=x onerror=…>`` read from an untrusted ``.npz``
would run in the page. Every string that comes from data (class names, utterance text, file
names, notes built from them) goes through :func:`text` before it is put into markup; the ES
modules set ``textContent`` and need nothing.
"""
from __future__ import annotations

import html

__all__ = ["text"]


def text(value) -> str:
    """``str(value)`` with ``& < > " '`` escaped: safe inside element content and quoted attributes."""
    return html.escape(str(value), quote=True)
