"""The audit report as Markdown, CSV and JSON (HTML: audit_html.py). Each is the report's
sections in the same order: the period, the counts per environment, the exceptions, then every
change. Every piece of text people typed (an app, a reason, a role) is cleaned of control and
bidi characters, and escaped for the format it lands in."""

import csv
import io
import json
import re
from collections.abc import Callable, Iterator

from bot.core.ids import USER_ID
from bot.core.text import clean
from bot.features.governance.audit_history import LOCKED, REVIEW_EXCEPTIONS, Change, Report
from bot.features.governance.audit_index import ADOPT, DISCARD

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


def deploy_cells(c: Change) -> tuple[str, ...]:
    """A change to an environment, as the columns of `DEPLOY_HEADERS`."""
    state = "; ".join(s for s in (c.freeze, c.lock) if s)
    approvers = ", ".join(c.approvers)
    if c.proposal is not None:
        approvers = f"{approvers} (proposal {c.proposal})".lstrip()
    return (
        c.time,
        c.env or "",
        c.app or "",
        c.before or "",
        c.after or "(removed)",
        c.command or "",
        c.requester,
        approvers,
        c.four_eyes,
        state,
        c.window or "",
        c.hotfix or "",
        c.review,
        c.sha,
        c.signature,
        c.reason or "",
    )


def summary(report: Report) -> str:
    """One line: how many changes and exceptions, per environment."""
    counts = report.counts
    per = ", ".join(f"{env} {n.changes}" for env, n in counts.items()) or "none"
    exceptions = len({(c.seq, c.part) for _, c in report.exceptions})
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


def memo(escape: Callable[[str], str]) -> Callable[[str], str]:
    """`escape`, asked once per distinct text of one report: most cells repeat (environments,
    apps, people, verdicts), and a year has a hundred thousand rows."""
    seen: dict[str, str] = {}

    def escaped(text: str) -> str:
        found = seen.get(text)
        if found is None:
            found = seen[text] = escape(text)
        return found

    return escaped


def _md(text: str) -> str:
    """A table cell: one line, no markup of its own (pipes, backticks, tags, emphasis)."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text))


def escaper(
    escape: Callable[[str], str], headers: tuple[str, ...]
) -> Callable[[tuple[str, ...]], list[str]]:
    """Escapes a row's cells, but those opsbot wrote itself (a time, a commit id, a verdict),
    which hold nothing to escape."""
    cell = memo(escape)
    ours = [h in OURS for h in headers]
    return lambda row: [text if mine else cell(text) for text, mine in zip(row, ours, strict=True)]


def _table(headers: tuple[str, ...], rows: Iterator[tuple[str, ...]]) -> list[str]:
    escaped = escaper(_md, headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(escaped(row)) + " |" for row in rows]
    return lines


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
    out += _table(
        ("exception", "time", "what", "by", "commit"),
        ((e, c.time, _what(c, e), c.requester, c.sha) for e, c in report.exceptions),
    )
    out += ["", "## Changes to environments", ""]
    out += _table(DEPLOY_HEADERS, (deploy_cells(c) for c in report.deploys))
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
    """The change, in a few words; for an exception of its review, when it was due; for one
    of its lock, whose it was."""
    if c.kind == "deploy":
        said = f"{c.command} {c.app} {c.before or '-'} -> {c.after or '(removed)'} in {c.env}"
        if exception == LOCKED:
            return f"{said}: {c.lock}"
        return f"{said}: {c.review}" if exception in REVIEW_EXCEPTIONS else said
    if c.kind in (ADOPT, DISCARD):
        return f"{c.kind} {len(c.listed('commits'))} commit(s)"
    return c.detail or c.kind


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


def as_csv(report: Report) -> str:
    """One table: the exceptions first (one row per exception), then every change."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADERS)
    rows = [("exception", e, c) for e, c in report.exceptions]
    rows += [("change", "", c) for c in report.changes]
    escaped = escaper(_csv_cell, CSV_HEADERS)
    for section, exception, c in rows:
        writer.writerow(escaped((section, exception, c.kind, *deploy_cells(c), _detail(c))))
    return buffer.getvalue()


def _detail(c: Change) -> str:
    if c.kind in (ADOPT, DISCARD):
        left = c.listed("left_out")
        return f"commits: {' '.join(c.listed('commits'))}; files: {' '.join(c.listed('files'))}" + (
            f"; left out: {' '.join(left)}" if left else ""
        )
    return c.detail or ""


# JSON


def change_dict(c: Change) -> dict[str, object]:
    found: dict[str, object] = {
        "time": c.time,
        "kind": c.kind,
        "commit": c.sha,
        "signature": c.signature,
        "requester": c.requester,
        "exceptions": list(c.exceptions),
    }
    if c.kind == "deploy":
        found.update(
            environment=c.env,
            app=c.app,
            from_version=c.before,
            to_version=c.after,
            command=c.command,
            approvers=list(c.approvers),
            approvals_required=c.required,
            proposal=c.proposal,
            four_eyes=c.four_eyes,
            freeze=c.freeze,
            lock=c.lock,
            window=c.window,
            hotfix=c.hotfix,
            review=c.review or None,
            reason=c.reason,
        )
    elif c.kind in (ADOPT, DISCARD):
        found.update(
            commits=c.listed("commits"), files=c.listed("files"), left_out=c.listed("left_out")
        )
    else:
        found.update(environment=c.env, change=c.detail)
    return found


def as_json(report: Report) -> str:
    """One JSON document, keys sorted; each change on a line of its own (a year is a hundred
    thousand of them: indenting each field would triple the file and the time)."""
    data = {
        "since": f"{report.since:%Y-%m-%dT%H:%M:%SZ}",
        "until": f"{report.until:%Y-%m-%dT%H:%M:%SZ}" if report.until else None,
        "environment": report.env,
        "main": report.head,
        "counts": {env: vars(n) for env, n in report.counts.items()},
        "exceptions": [
            {"exception": e, "commit": c.sha, "time": c.time, "what": _what(c, e)}
            for e, c in report.exceptions
        ],
    }
    head = json.dumps(data, indent=1, sort_keys=True)
    changes = ",\n".join(json.dumps(change_dict(c), sort_keys=True) for c in report.changes)
    return head[:-2] + ',\n "changes": [\n' + changes + "\n ]\n}\n"
