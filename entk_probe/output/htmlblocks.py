"""The pieces of entk-probe's HTML pages: a page that carries plotly.js once, figures, tables, warnings.

A page is self-contained: plotly.js (shipped inside the ``plotly`` package: the ``html`` extra,
``pip install 'entk-probe[html]'``) is inlined once in its head, each figure is a div with its data
and no copy of the library, and nothing is fetched when it is opened. Every string from a report is
escaped here (``esc``). The CSS is scoped to the ``entk-probe`` class, so a notebook fragment
(``fragment``) leaves the notebook's own styles alone; tables scroll in their own box, so a page
reads at a phone's width. plotly is imported only inside the functions that need it.
"""

from __future__ import annotations

import hashlib

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_atomically
from ..errors import UsageError

MISSING = "the HTML report needs plotly: pip install 'entk-probe[html]'"

CSS = """
.entk-probe{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2430;
 line-height:1.45;font-size:15px}
body.entk-probe{margin:0 auto;max-width:1240px;padding:10px 14px;background:#fff}
.entk-probe h1{font-size:1.35rem;margin:.3em 0}
.entk-probe h2{font-size:1.12rem;margin:1.1em 0 .4em;border-bottom:1px solid #e3e6ee;padding-bottom:.15em}
.entk-probe h3{font-size:.95rem;margin:.6em 0 .2em}
.entk-probe h1,.entk-probe h2,.entk-probe p,.entk-probe li{overflow-wrap:anywhere}
.entk-probe ul.facts{margin:.2em 0;padding-left:1.1em;font-size:.92rem;color:#3b4252}
.entk-probe .scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
.entk-probe table{border-collapse:collapse;font-size:.84rem;font-variant-numeric:tabular-nums;margin:.3em 0}
.entk-probe th,.entk-probe td{padding:2px 9px;text-align:right;white-space:nowrap;border-bottom:1px solid #eceff4}
.entk-probe th{background:#f5f7fa;position:sticky;top:0}
.entk-probe th:first-child,.entk-probe td:first-child{text-align:left}
.entk-probe tr.phase-II td{background:#fff5e6}
.entk-probe tr.excluded td{color:#8a8f98}
.entk-probe .verdict{display:inline-block;padding:.05em .5em;border-radius:5px;background:#e6efff;
 font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95em}
.entk-probe .pairs{display:flex;flex-wrap:wrap;gap:14px}
.entk-probe .pairs > div{min-width:0;max-width:100%}
.entk-probe .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:12px}
.entk-probe .figure{min-width:0;width:100%}
.entk-probe .note{color:#5c6370;font-size:.85rem}
.entk-probe ul.warnings{padding-left:1.1em}
.entk-probe ul.warnings li{color:#8a4b00}
.entk-probe code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
"""


def esc(value: Any) -> str:
    """``value`` as text that HTML shows as it is (quotes too)."""
    return html.escape(str(value), quote=True)


def plotly_module() -> Any:
    """The plotly package, or the UsageError (as for --plot without matplotlib) that says how to install the
    html extra."""
    try:
        import plotly
        import plotly.graph_objects  # noqa: F401
    except ImportError:
        raise UsageError(MISSING) from None
    return plotly


def check_html() -> None:
    """A UsageError now, rather than after the analysis, when plotly is missing."""
    plotly_module()


def plotly_script() -> str:
    """plotly.js as one inline ``<script>`` (an AMD loader, as Jupyter's classic notebook has, is set
    aside while it runs, so the library lands in ``window.Plotly`` in every release)."""
    from plotly.offline import get_plotlyjs

    plotly_module()
    library = get_plotlyjs().replace("</script", "<\\/script")
    return ("<script>if(window.define){window.__entkDefine=window.define;window.define=undefined;}</script>\n"
            f"<script>{library}</script>\n"
            "<script>if(window.__entkDefine){window.define=window.__entkDefine;delete window.__entkDefine;}</script>")


def page(title: str, parts: Sequence[str]) -> str:
    """A whole HTML page: plotly.js once in its head, the CSS, a viewport for phones, ``parts`` in order."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n{plotly_script()}\n</head>\n"
            "<body class=\"entk-probe\">\n" + "\n".join(parts) + "\n</body>\n</html>\n")


def fragment(parts: Sequence[str], plots: bool = True) -> str:
    """``parts`` as a block for a notebook cell: the scoped CSS, and plotly.js once where ``plots``."""
    return (f"<div class=\"entk-probe\">\n<style>{CSS}</style>\n" + (plotly_script() + "\n" if plots else "")
            + "\n".join(parts) + "\n</div>")


def figure_html(fig: Any, height: int | None = None) -> str:
    """A plotly figure as a div (its data and the call that draws it, no copy of plotly.js), resized with its box."""
    plotly_module()
    # the div's id from the figure itself, not plotly's random one: the same report gives the same page
    name = "entk-" + hashlib.sha256(fig.to_json().encode()).hexdigest()[:16]
    div = fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%", div_id=name,
                      default_height=f"{height or fig.layout.height or 450}px",
                      config={"responsive": True, "displaylogo": False})
    return f"<div class=\"figure\">{div}</div>"


def table_html(headers: Sequence[str], rows: Iterable[Sequence[Any]], row_classes: Sequence[str] | None = None,
               caption: str | None = None) -> str:
    """A table (every cell escaped) in a box of its own that scrolls sideways where the page is narrower."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f" class=\"{esc(row_classes[i])}\"" if row_classes and row_classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>")
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f"<div class=\"scroll\"><table>{title}<thead><tr>{head}</tr></thead><tbody>\n"
            + "\n".join(body) + "\n</tbody></table></div>")


def paragraphs(lines: Iterable[str], css: str = "") -> str:
    """One escaped paragraph a non-empty line."""
    attribute = f" class=\"{esc(css)}\"" if css else ""
    return "\n".join(f"<p{attribute}>{esc(line)}</p>" for line in lines if line)


def facts_html(lines: Iterable[str]) -> str:
    """Short facts as an escaped list (a report's header)."""
    return "<ul class=\"facts\">" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>"


def section(title: str, *parts: str, css: str = "") -> str:
    """A titled section of a page."""
    attribute = f" class=\"{esc(css)}\"" if css else ""
    return f"<section{attribute}>\n<h2>{esc(title)}</h2>\n" + "\n".join(p for p in parts if p) + "\n</section>"


def warnings_html(warnings: Sequence[dict[str, Any]], notes: Sequence[str] = ()) -> str:
    """A report's warnings (``{code, message[, checkpoint]}``) and notes as a section; empty when it has none."""
    items = [f"<li><code>{esc(w.get('code', 'warning'))}</code>: {esc(w.get('message', ''))}"
             + (f" ({esc(w['checkpoint'])})" if w.get("checkpoint") else "") + "</li>" for w in warnings]
    items += [f"<li class=\"note\">{esc(note)}</li>" for note in notes]
    return section("Warnings and notes", "<ul class=\"warnings\">" + "".join(items) + "</ul>") if items else ""


def write_html(text: str, path: Path) -> Path:
    """Write the page ``text`` to ``path`` atomically (UTF-8), as ``write_json`` writes a report: an OSError
    when it cannot, which ``output.writes.write_all`` turns into its one line."""
    return write_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
