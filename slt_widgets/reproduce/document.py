"""A tiny document model rendered to both Markdown and self-contained HTML (no CDN)."""
from __future__ import annotations

import html
from pathlib import Path

from .._files import atomic_open, atomic_write_text

__all__ = ["Document", "md_escape"]


class Document:
    """Blocks of headings, paragraphs, tables and images, written as ``report.md``/``report.html``."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple] = []
        self.csv_tables: dict = {}

    def h(self, text: str, level: int = 2):
        self.blocks.append(("h", level, text))

    def p(self, text: str):
        self.blocks.append(("p", text))

    def table(self, header, rows, name: str | None = None):
        """A table; with ``name`` it is also written as ``name.csv`` next to the report."""
        self.blocks.append(("table", [str(h) for h in header], [[_fmt(c) for c in r] for r in rows]))
        if name:
            self.csv_tables[name] = self.blocks[-1]

    def img(self, path: str, caption: str):
        self.blocks.append(("img", path, caption))

    def markdown(self) -> str:
        m = md_escape
        out = [f"# {m(self.title)}", ""]
        for b in self.blocks:
            if b[0] == "h":
                out += ["#" * b[1] + " " + m(b[2]), ""]
            elif b[0] == "p":
                out += [m(b[1]), ""]
            elif b[0] == "table":
                out += ["| " + " | ".join(m(h) for h in b[1]) + " |", "|" + "---|" * len(b[1])]
                out += ["| " + " | ".join(m(c).replace("|", "\\|") for c in r) + " |" for r in b[2]] + [""]
            else:
                out += [f"![{m(b[2])}]({b[1]})", "", f"*{m(b[2])}*", ""]
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        out = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{e(self.title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
               "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
               "font-size:13px}th{background:#eee}img{max-width:100%}figcaption{font-style:italic;"
               "font-size:13px}.holds{color:#070}.not{color:#b00}</style></head><body>",
               f"<h1>{e(self.title)}</h1>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{e(b[1])}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b[1]) + "</tr>")
                for r in b[2]:
                    cells = []
                    for c in r:
                        cls = " class='not'" if c.startswith("does not hold") else (
                            " class='holds'" if c.startswith("holds") else "")
                        cells.append(f"<td{cls}>{e(c)}</td>")
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</table>")
            else:
                out.append(f"<figure><img src='{e(b[1])}' alt='{e(b[2])}'><figcaption>{e(b[2])}</figcaption></figure>")
        out.append("</body></html>")
        return "\n".join(out)

    def write(self, out_dir) -> tuple[Path, Path]:
        out_dir = Path(out_dir)
        md, ht = out_dir / "report.md", out_dir / "report.html"
        atomic_write_text(md, self.markdown())
        import csv
        for name, (_, header, rows) in self.csv_tables.items():
            with atomic_open(out_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([header] + rows)
        atomic_write_text(ht, self.html())
        return md, ht


def md_escape(text: str) -> str:
    """Text for Markdown: ``<`` escaped, so a class named ``<img onerror=…>`` stays text in any
    viewer that renders inline HTML (the HTML report escapes everything)."""
    return str(text).replace("<", "&lt;")


def _fmt(c) -> str:
    if isinstance(c, float):
        return "—" if c != c else f"{c:.3g}"
    return str(c)
