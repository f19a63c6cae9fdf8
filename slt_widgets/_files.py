"""Writing files safely: a fresh temporary file in the target folder, then ``os.replace``.

Every writer of the package goes through :func:`atomic_open`. A crash leaves the old file (or
none), never half a file; and since the temporary name comes from ``mkstemp`` (``O_EXCL``,
random), a symlink planted at a predictable path — ``report.md``, ``x.partial.npz`` — is never
written through: ``os.replace`` swaps the link itself for the new file, and the file it pointed
at stays untouched.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "make_private_dir"]


@contextmanager
def atomic_open(path, mode: str = "wb", **kw):
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path``.

    mode: ``"wb"`` or ``"w"`` (text; ``kw`` go to ``open``, e.g. ``encoding``, ``newline``).
    The file gets the usual ``0666 & ~umask`` permissions (``mkstemp`` makes ``0600``).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes new files: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def make_private_dir(parent, prefix: str) -> Path:
    """A new, empty ``0700`` folder under ``parent`` with an unguessable name (``mkdtemp``)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
