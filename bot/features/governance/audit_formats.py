"""The audit report as Markdown, CSV and JSON (HTML: audit_html.py). Each is the report's
sections in the same order: the period, the counts per environment, the exceptions, then every
change. Every piece of text people typed (an app, a reason, a role) is cleaned of control and
bidi characters, and escaped for the format it lands in."""

import csv
import io
import json
import re
from collections.abc import Callable, Iterable

from bot.core.ids import USER_ID
from bot.core.text import clean
from bot.features.governance.audit_history import LOCKED, REVIEW_EXCEPTIONS, Change, Report
from bot.features.governance.audit_index import ADOPT, DISCARD
from bot.features.governance.audit_judge import uncollected

FORMATS = ("md", "csv", "json", "html")

DEPLOY_HEADERS = (
    "time",
    "environment",
    "app",
    "from",
    "to",
    "command",
    "requester",
    "approvers",
    "four-eyes",
    "freeze or lock",
    "window",
    "hotfix",
    "review",
    "commit",
    "signature",
    "reason",
)


# The columns opsbot writes itself, from the index's own fields: never people's text.
OURS = frozenset({"time", "commit", "signature", "four-eyes", "four_eyes", "section", "kind"})


def period(report: Report) -> str:
    until = f"{report.until:%Y-%m-%dT%H:%M:%SZ}" if report.until else "the end of the history"
    where = f", environment {clean(report.env)}" if report.env else ""
    head = f" (main at {report.head})" if report.head else ""
    return f"{report.since:%Y-%m-%dT%H:%M:%SZ} to {until}{where}{head}"


class Escaped(dict[str, str]):
    """`escape` of each distinct text of one report, asked once: most cells repeat
    (environments, apps, people, verdicts), and a year has a hundred thousand rows. Looked up
    as `escaped[text]`, in C, but for the first time a text is seen.

    `piecewise`: the escape works character by character (Markdown's, HTML's), so a text made
    of pieces is escaped piece by piece, each piece asked once, and opsbot's own words and
    numbers between them are left as they are. The CSV's is not: whether a cell is taken for a
    formula depends on all of it."""

    def __init__(self, escape: Callable[[str], str], *, piecewise: bool = False) -> None:
        super().__init__()
        self.escape = escape
        self.piecewise = piecewise

    def joined(self, pieces: list[str]) -> str:
        return "".join([self[p] for p in pieces]) if self.piecewise else self["".join(pieces)]

    def __missing__(self, text: str) -> str:
        found = self[text] = self.escape(text)
        return found


def deploy_cells(c: Change, e: Escaped) -> list[str]:
    """A change to an environment as the columns of `DEPLOY_HEADERS`, escaped with `e` but
    those opsbot writes itself (`OURS`: a time, a verdict, a commit id)."""
    approvers = ", ".join(c.approvers)
    if c.proposal is None:
        approvers = e[approvers]
    elif e.piecewise:  # "(proposal 12)" is opsbot's: a year has thousands, none to escape
        approvers = (
            f"{e[approvers]} (proposal {c.proposal})" if approvers else f"(proposal {c.proposal})"
        )
    else:
        approvers = e[f"{approvers} (proposal {c.proposal})".lstrip()]
    state = f"{c.freeze}; {c.lock}" if c.freeze and c.lock else c.freeze or c.lock or ""
    return [
        c.time,
        e[c.env or ""],
        e[c.app or ""],
        e[c.before or ""],
        e[c.after or "(removed)"],
        e[c.command or ""],
        e[c.requester],
        approvers,
        c.four_eyes,
        e[state],
        e[c.window or ""],
        e[c.hotfix or ""],
        e[c.review],
        c.sha,
        c.signature,
        e[c.reason or ""],
    ]


def summary(report: Report) -> str:
    """One line: how many changes and exceptions, per environment."""
    counts = report.counts
    per = ", ".join(f"{env} {n.changes}" for env, n in counts.items()) or "none"
    exceptions = sum(1 for c in report.changes if c.exceptions)
    return (
        f"{sum(n.changes for n in counts.values())} change(s) to environments ({per}), "
        f"{exceptions} with an exception, {len(report.governance)} role/key/rule change(s), "
        f"{len(report.of(ADOPT))} adopt(s), {len(report.of(DISCARD))} discard(s)"
    )


def outside_cells(c: Change) -> tuple[str, str, str, str, str, str, str]:
    """An adopt or a discard: when, who, which commits, which files, left out, commit, signature."""
    return (
        c.time,
        c.requester,
        " ".join(c.listed("commits")),
        " ".join(c.listed("files")),
        " ".join(c.listed("left_out")),
        c.sha,
        c.signature,
    )


# Markdown


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: str) -> str:
    """A table cell: one line, no markup of its own (pipes, backticks, tags, emphasis)."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text))


def escaper(e: Escaped, headers: tuple[str, ...]) -> Callable[[tuple[str, ...]], list[str]]:
    """Escapes a row's cells, but those opsbot wrote itself (a time, a commit id, a verdict),
    which hold nothing to escape."""
    ours = [h in OURS for h in headers]
    return lambda row: [text if mine else e[text] for text, mine in zip(row, ours, strict=True)]


def _table(
    headers: tuple[str, ...], rows: Iterable[tuple[str, ...]], e: Escaped | None = None
) -> list[str]:
    escaped = escaper(e or Escaped(_md), headers)
    return _lines(headers, (escaped(row) for row in rows))


def _lines(headers: tuple[str, ...], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


@uncollected()
def as_markdown(report: Report) -> str:
    out = ["# Change audit", "", f"Period: {_md(period(report))}", "", summary(report), ""]
    out += ["## Changes per environment", ""]
    out += _table(
        ("environment", "changes", "four-eyes held", "not required", "violated", "hotfixes"),
        (
            (env, *(str(v) for v in (n.changes, n.held, n.not_required, n.violated, n.hotfixes)))
            for env, n in report.counts.items()
        ),
    )
    out += ["", "## Exceptions", ""]
    e = Escaped(_md, piecewise=True)
    out += _lines(
        ("exception", "time", "what", "by", "commit"),
        (
            [e[name], c.time, e.joined(_what_pieces(c, name)), e[c.requester], c.sha]
            for name, c in report.exceptions
        ),
    )
    out += ["", "## Changes to environments", ""]
    out += _lines(DEPLOY_HEADERS, (deploy_cells(c, e) for c in report.deploys))
    out += ["", "## Role, key and approval-rule changes", ""]
    out += _table(
        ("time", "kind", "change", "by", "commit", "signature"),
        (
            (c.time, c.kind, c.detail or "", c.requester, c.sha, c.signature)
            for c in report.governance
        ),
    )
    headers = ("time", "by", "commits", "files", "left out", "commit", "signature")
    out += ["", "## Outside commits adopted", ""]
    out += _table(headers, (outside_cells(c) for c in report.of(ADOPT)))
    out += ["", "## Outside commits discarded", ""]
    out += _table(headers, (outside_cells(c) for c in report.of(DISCARD)))
    return "\n".join(out) + "\n"


def _what(c: Change, exception: str = "") -> str:
    return "".join(_what_pieces(c, exception))


def _what_pieces(c: Change, exception: str) -> list[str]:
    """The change, in a few words; for an exception of its review, when it was due; for one
    of its lock, whose it was. In pieces: each one repeats, where the whole rarely does."""
    if c.kind == "deploy":
        said = [c.command or "", " ", c.app or "", " ", c.before or "-", " -> "]
        said += [c.after or "(removed)", " in ", c.env or ""]
        if exception == LOCKED:
            return [*said, ": ", c.lock or ""]
        return [*said, ": ", c.review] if exception in REVIEW_EXCEPTIONS else said
    if c.kind in (ADOPT, DISCARD):
        return [f"{c.kind} {len(c.listed('commits'))} commit(s)"]
    return [c.detail or c.kind]


# CSV


CSV_HEADERS = (
    "section",
    "exception",
    "kind",
    *(h.replace(" ", "_").replace("-", "_") for h in DEPLOY_HEADERS),
    "detail",
)


def _csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (`=`, `+`, `-`, `@`...)."""
    text = clean(text)
    if text[:1] in ("=", "+", "-", "@") and not USER_ID.fullmatch(text):
        return "'" + text
    return text


_CSV_QUOTED = re.compile('[,"\r\n]')  # what the csv module quotes in a cell (QUOTE_MINIMAL)


def _csv_field(text: str) -> str:
    """A cell as the csv module writes it (quoted where it must be), safe as `_csv_cell`."""
    text = _csv_cell(text)
    if _CSV_QUOTED.search(text) is None:
        return text
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text])
    return buffer.getvalue()[:-1]


@uncollected()
def as_csv(report: Report) -> str:
    """One table: the exceptions first (one row per exception), then every change. Each row
    is joined here, not by a csv writer: each distinct cell is written by one, once."""
    e = Escaped(_csv_field)
    lines = [",".join(e[h] for h in CSV_HEADERS)]
    rows = [("exception", e[exception], c) for exception, c in report.exceptions]
    rows += [("change", "", c) for c in report.changes]
    for section, exception, c in rows:
        cells = deploy_cells(c, e)
        lines.append(",".join([section, exception, e[c.kind], *cells, e[_detail(c)]]))
    return "\n".join(lines) + "\n"


def _detail(c: Change) -> str:
    if c.kind in (ADOPT, DISCARD):
        left = c.listed("left_out")
        return f"commits: {' '.join(c.listed('commits'))}; files: {' '.join(c.listed('files'))}" + (
            f"; left out: {' '.join(left)}" if left else ""
        )
    return c.detail or ""


# JSON


class _Json(dict[object, str]):
    """Each distinct value of one report as JSON, encoded once."""

    def __missing__(self, value: object) -> str:
        found = self[value] = json.dumps(value)
        return found


def change_json(c: Change, j: _Json) -> str:
    """A change as one line of JSON, its keys sorted (as `json.dumps(..., sort_keys=True)`
    writes it). A change to an environment, a hundred thousand a year, is written from a
    template of its keys; the few others as a dictionary."""
    if c.kind == "deploy":
        proposal = "null" if c.proposal is None else c.proposal
        return (
            f'{{"app": {j[c.app]}, "approvals_required": {c.required}, '
            f'"approvers": {j[c.approvers]}, "command": {j[c.command]}, "commit": "{c.sha}", '
            f'"environment": {j[c.env]}, "exceptions": {j[c.exceptions]}, '
            f'"four_eyes": "{c.four_eyes}", "freeze": {j[c.freeze]}, '
            f'"from_version": {j[c.before]}, "hotfix": {j[c.hotfix]}, "kind": "deploy", '
            f'"lock": {j[c.lock]}, "proposal": {proposal}, "reason": {j[c.reason]}, '
            f'"requester": {j[c.requester]}, "review": {j[c.review or None]}, '
            f'"signature": "{c.signature}", "time": "{c.time}", "to_version": {j[c.after]}, '
            f'"window": {j[c.window]}}}'
        )
    found: dict[str, object] = {
        "time": c.time,
        "kind": c.kind,
        "commit": c.sha,
        "signature": c.signature,
        "requester": c.requester,
        "exceptions": list(c.exceptions),
    }
    if c.kind in (ADOPT, DISCARD):
        found.update(
            commits=c.listed("commits"), files=c.listed("files"), left_out=c.listed("left_out")
        )
    else:
        found.update(environment=c.env, change=c.detail)
    return json.dumps(found, sort_keys=True)


@uncollected()
def as_json(report: Report) -> str:
    """One JSON document, keys sorted; each change on a line of its own (a year is a hundred
    thousand of them: indenting each field would triple the file and the time)."""
    data: dict[str, object] = {
        "since": f"{report.since:%Y-%m-%dT%H:%M:%SZ}",
        "until": f"{report.until:%Y-%m-%dT%H:%M:%SZ}" if report.until else None,
        "environment": report.env,
        "main": report.head,
        "counts": {env: vars(n) for env, n in report.counts.items()},
        "exceptions": [],
    }
    head = json.dumps(data, indent=1, sort_keys=True)
    j = _Json()
    if report.exceptions:
        # Written as `indent=1` writes them (json's pure-Python path, slow for thousands).
        listed = ",\n".join(
            f'  {{\n   "commit": "{c.sha}",\n   "exception": {j[e]},\n   "time": "{c.time}",'
            f'\n   "what": {j[_what(c, e)]}\n  }}'
            for e, c in report.exceptions
        )
        head = head.replace('\n "exceptions": []', f'\n "exceptions": [\n{listed}\n ]', 1)
    changes = ",\n".join([change_json(c, j) for c in report.changes])
    return head[:-2] + ',\n "changes": [\n' + changes + "\n ]\n}\n"
