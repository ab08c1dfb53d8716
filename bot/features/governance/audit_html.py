"""The audit report as one HTML file an auditor can open and print: its style inline (with a
print stylesheet: no colour needed, table headers repeated on each page, no row cut in two), no
script, nothing loaded from anywhere, and every piece of text escaped."""

from collections.abc import Iterable
from html import escape

from bot.core.text import clean
from bot.features.governance.audit_formats import (
    DEPLOY_HEADERS,
    Escaped,
    deploy_cells,
    escaper,
    outside_cells,
    period,
    summary,
)
from bot.features.governance.audit_history import Report
from bot.features.governance.audit_index import ADOPT, DISCARD
from bot.features.governance.audit_judge import uncollected

STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .4em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: left; vertical-align: top; }
th { background: #eee; }
td { word-break: break-word; }
tr.exception td { background: #fde8e8; }
.none { color: #555; font-style: italic; }
code { font-size: .95em; }
@media print {
  body { margin: 0; font-size: 9pt; color: #000; }
  th { background: none; }
  tr.exception td { background: none; font-weight: bold; }
  thead { display: table-header-group; }
  tr { page-break-inside: avoid; break-inside: avoid; }
  h2 { page-break-after: avoid; break-after: avoid; }
}
@page { size: A4 landscape; margin: 12mm; }
"""


def _e(text: str) -> str:
    return escape(clean(text), quote=True)


def _table(
    headers: Iterable[str],
    rows: Iterable[tuple[str, ...]],
    marked: Iterable[bool] = (),
    e: Escaped | None = None,
) -> str:
    headers = tuple(headers)
    escaped = escaper(e or Escaped(_e), headers)
    return _rows(headers, (escaped(row) for row in rows), marked)


def _rows(headers: tuple[str, ...], rows: Iterable[list[str]], marked: Iterable[bool] = ()) -> str:
    """Rows of cells escaped already; those `marked` are exceptions."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    marks = iter(marked)
    body = [
        ("<tr class=exception><td>" if next(marks, False) else "<tr><td>")
        + "</td><td>".join(row)
        + "</td></tr>"
        for row in rows
    ]
    if not body:
        return '<p class="none">none</p>'
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"
    )


@uncollected()
def as_html(report: Report) -> str:
    counts = _table(
        ("environment", "changes", "four-eyes held", "not required", "violated", "hotfixes"),
        (
            (env, *(str(v) for v in (n.changes, n.held, n.not_required, n.violated, n.hotfixes)))
            for env, n in report.counts.items()
        ),
    )
    e = Escaped(_e, piecewise=True)
    exceptions = _rows(
        ("exception", *DEPLOY_HEADERS, "change"),
        ([e[name], *deploy_cells(c, e), e[c.detail or ""]] for name, c in report.exceptions),
    )
    deploys = report.deploys
    changes = _rows(
        DEPLOY_HEADERS, (deploy_cells(c, e) for c in deploys), (bool(c.exceptions) for c in deploys)
    )
    governance = _table(
        ("time", "kind", "change", "by", "commit", "signature"),
        (
            (c.time, c.kind, c.detail or "", c.requester, c.sha, c.signature)
            for c in report.governance
        ),
        (bool(c.exceptions) for c in report.governance),
    )
    headers = ("time", "by", "commits", "files", "left out", "commit", "signature")
    adopted = _table(headers, (outside_cells(c) for c in report.of(ADOPT)))
    discarded = _table(headers, (outside_cells(c) for c in report.of(DISCARD)))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Change audit: {_e(period(report))}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Change audit</h1>
<p>{_e(period(report))}</p>
<p>{_e(summary(report))}</p>
<h2>Changes per environment</h2>
{counts}
<h2>Exceptions</h2>
{exceptions}
<h2>Changes to environments</h2>
{changes}
<h2>Role, key and approval-rule changes</h2>
{governance}
<h2>Outside commits adopted</h2>
{adopted}
<h2>Outside commits discarded</h2>
{discarded}
</body>
</html>
"""
