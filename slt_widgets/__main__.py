"""``python -m slt_widgets`` (console script ``slt-widgets``): a summary of the demo and subcommands.

Subcommands: ``summary`` (the default), ``explore`` (how to open the Explorer), ``reproduce``
(the paper's analyses; forwarded to :mod:`slt_widgets.reproduce`, imported only when used) and
``train-demo`` (forwarded to :mod:`slt_widgets.models.train_demo`).
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module
from pathlib import Path

from ._cli import OneLineParser, run_guarded

__all__ = ["main", "build_parser"]

EXPLORE_TEXT = """\
Open the Explorer in Jupyter (JupyterLab, Notebook 7, VS Code or Voila):

    from slt_widgets import Explorer, load_demo
    model, dataset = load_demo("{name}", "eval")
    Explorer(model, dataset, cls="{cls}")

Start JupyterLab with `jupyter lab` (or `voila NOTEBOOK.ipynb` for an app view).
Notebooks: {notebooks}
"""


def _notebooks() -> str:
    here = Path(__file__).resolve().parent.parent / "notebooks"
    if here.is_dir() and any(here.glob("*.ipynb")):
        return f"{here} ({', '.join(sorted(p.name for p in here.glob('*.ipynb')))})"
    return ("the notebooks/ folder of the slt_widgets source repository "
            "(not part of an installed wheel)")


def _summary(args) -> int:
    from . import describe
    from .demo import DemoDataMissingError, demo_table, load_demo
    from .models import evaluate
    try:
        model, ds = load_demo(args.name, args.split)
    except DemoDataMissingError as e:
        print(f"slt_widgets: {e}", file=sys.stderr)
        return 1
    print(f"slt_widgets demo network {args.name!r} on the {args.split!r} split")
    print()
    describe(model)
    print()
    counts = {c: int(n) for c, n in zip(ds.class_names, __import__("numpy").bincount(ds.labels, minlength=ds.n_classes))}
    print(f"classes ({ds.n_classes}): {' '.join(ds.class_names)}")
    print(f"{args.split}: {len(ds)} frames, {len(ds.utt_bounds) if ds.utt_bounds is not None else '?'} utterances, "
          f"voices {', '.join(sorted(set(ds.utt_voice or ()))) or '?'}, audio {'yes' if ds.has_audio else 'no'}; "
          f"features {ds.feature_shape[0]} bands x {ds.feature_shape[1]} frames; rarest class "
          f"{min(counts, key=counts.get)} ({min(counts.values())} frames)")
    acc = evaluate(model, ds)["accuracy"]
    print(f"frame accuracy on {args.split}: {100 * acc:.1f} %")
    try:
        t = demo_table()
    except DemoDataMissingError:
        t = None
    if t is not None:
        from .models.train_demo import format_table
        print()
        print(format_table(t))
    print()
    print(EXPLORE_TEXT.format(name=args.name, cls="T", notebooks=_notebooks()))
    print("Reproduce the paper's analyses: python -m slt_widgets reproduce --out report/")
    return 0


def _explore(args) -> int:
    print(EXPLORE_TEXT.format(name=args.name, cls=args.cls, notebooks=_notebooks()))
    return 0


def _reproduce(args) -> int:
    try:
        mod = import_module("slt_widgets.reproduce")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("slt_widgets.reproduce"):
            print("slt_widgets: the reproduce module is not part of this installation", file=sys.stderr)
            return 1
        raise
    if hasattr(mod, "add_arguments") and hasattr(mod, "run_cli"):
        parser = OneLineParser(prog="python -m slt_widgets reproduce", description=mod.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(parser)
        return int(mod.run_cli(parser.parse_args(args.rest)) or 0)
    return int(mod.main(args.rest) or 0)


def _train_demo(args) -> int:
    from .models.train_demo import main as train_main
    return int(train_main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m slt_widgets`` (subcommands in ``.dest == "command"``)."""
    from .demo import DEMO_NAMES, DEMO_SPLITS
    p = OneLineParser(prog="python -m slt_widgets",
                                description="See what a multilayer perceptron does to its inputs: exact "
                                            "sample-dependent linear transforms (Nagamine & Mesgarani, ICML 2017).")
    from . import __version__
    p.add_argument("--version", action="version", version=f"slt_widgets {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("summary", help="load the demo and print a summary (the default)")
    for q in (p, s):
        q.add_argument("--name", choices=DEMO_NAMES, default="small", help="demo network (default small)")
        q.add_argument("--split", choices=DEMO_SPLITS, default="eval", help="demo split (default eval)")
    s.set_defaults(func=_summary)
    e = sub.add_parser("explore", help="print how to open the Explorer in Jupyter")
    e.add_argument("--name", choices=DEMO_NAMES, default="small")
    e.add_argument("--cls", default="T", help="class to open first (default T)")
    e.set_defaults(func=_explore)
    # options of these two belong to their own modules: everything after the name is passed on
    r = sub.add_parser("reproduce", help="write the reproduction report (options: reproduce --help)",
                       add_help=False, prefix_chars="\0")
    r.add_argument("rest", nargs=argparse.REMAINDER)
    r.set_defaults(func=_reproduce)
    t = sub.add_parser("train-demo", help="rebuild the demo nets and data (options: train-demo --help)",
                       add_help=False, prefix_chars="\0")
    t.add_argument("rest", nargs=argparse.REMAINDER)
    t.set_defaults(func=_train_demo)
    p.set_defaults(func=_summary)
    return p


def main(argv=None) -> int:
    """Entry point of ``python -m slt_widgets`` and the ``slt-widgets`` console script.

    Errors come out as one line on stderr with exit status 1 (2 for a bad option), no traceback."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    prog = "python -m slt_widgets" + (f" {args.command}" if getattr(args, "command", None) else "")
    return run_guarded(args.func, args, prog)


if __name__ == "__main__":
    sys.exit(main())
