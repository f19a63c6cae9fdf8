"""Command-line plumbing shared by ``python -m slt_widgets`` and ``python -m slt_widgets.reproduce``:
every error is one line on stderr and a non-zero exit status, never a traceback.

Set ``SLT_WIDGETS_TRACEBACK=1`` to get the traceback back (for a bug report).
"""
from __future__ import annotations

import argparse
import os
import sys

__all__ = ["OneLineParser", "run_guarded", "one_line"]


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (its type when the message says nothing)."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        msg = " ".join(str(exc.args[0]).split())
    return msg or type(exc).__name__


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` that reports a bad option in one line (exit status 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def run_guarded(fn, args, prog: str) -> int:
    """``fn(args)`` as an exit status: 0/its int on success; 1 with one line on stderr for any error."""
    try:
        return int(fn(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 — a command line shows the reason, not the stack
        if os.environ.get("SLT_WIDGETS_TRACEBACK"):
            raise
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return 1
