"""The HrFlow page's HTML: server-rendered, no script, every value escaped; keys, counts, ids and reason codes only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import urlencode

from hrflow_airflow.ledger.history import RUN_COUNTS
from hrflow_airflow.ui.links import record_url, run_url
from hrflow_airflow.ui.queries import Counts

STATES = ("synced", "accepted", "refused", "quarantined", "removed", "unknown", "intent")
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;padding:16px 24px;color:#1a202c;background:#fff}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;margin:4px 0 8px}th,td{padding:4px 10px;border-bottom:1px solid #e2e8f0;
text-align:right}th{background:#f7fafc;font-weight:600}td.k,th.k{text-align:left;font-family:monospace}
a{color:#2b6cb0}.bad{color:#c53030}.ok{color:#2f855a}.muted{color:#718096}.card{display:inline-block;
vertical-align:top;border:1px solid #e2e8f0;border-radius:6px;padding:8px 14px;margin:0 12px 8px 0}
form.inline{display:inline}button{padding:3px 10px}input[type=text]{width:26em;font-family:monospace}
.msg{background:#ebf8ff;border:1px solid #90cdf4;padding:6px 10px;border-radius:4px}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def href(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return e(f"{path}?{query}" if query else path)


def layout(title: str, body: str, user: str) -> str:
    """Return the whole page: the title, who is signed in, the key search, and ``body``."""
    search = (
        f'<form action="{href("profile")}" method="get">Find a profile or job by key: '
        '<input type="text" name="key" aria-label="key" required> <button type="submit">Find</button></form>'
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title><style>{STYLE}</style></head>"
        f'<body><h1><a href="./">HrFlow sync</a> · {e(title)} <span class="muted" style="font-size:13px">'
        f"signed in as {e(user)}</span></h1>{search}{body}</body></html>"
    )


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], left: int = 1) -> str:
    """Return a table; the first ``left`` columns are keys (left-aligned); cells are HTML already."""
    head = "".join(f'<th class="{"k" if i < left else ""}">{e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"k" if i < left else ""}">{c}</td>' for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def schedule_cards(dags: Mapping[str, dict[str, Any]], last: Mapping[str, dict[str, Any]], base_url: str) -> str:
    """Return one card per sync DAG: its last run (state, counts, link), its next run, what was pending."""
    cards = []
    for dag_id, info in sorted(dags.items()):
        run = last.get(dag_id)
        if run:
            link = f'<a target="_top" href="{e(run_url(base_url, dag_id, run["run_id"]))}">{e(run["run_id"])}</a>'
            state = f'<span class="{"ok" if run["state"] == "success" else "bad"}">{e(run["state"])}</span>'
            pending = ", ".join(f"{e(c)}: {p['pending']}" for c, p in sorted(run["per_container"].items()))
            counted = f"pending at its end: {pending}" if pending else "not counted: the run ended before its summary"
            text = f"last run {link} {state}, ended {e(run['ended_at'])}<br>{counted}"
        else:
            text = "no run recorded yet"
        cards.append(
            f'<div class="card"><b>{e(dag_id)}</b> → {e(info["conn_id"])}<br>{text}<br>'
            f"next run: {e(info.get('next_run') or 'not scheduled (paused, or on webhook events only)')}</div>"
        )
    return "".join(cards) or '<p class="muted">Your role may read none of the sync DAGs.</p>'


def counts_table(rows: list[Counts], updated: Mapping[str, int], days: float) -> str:
    """Return the counts per destination and source, each linking to its keys; then refusals by reason code."""
    body, reasons = [], []
    for row in rows:
        cells = [e(row.destination), e(row.container)]
        for state in STATES:
            n = row.states.get(state, 0)
            link = href("keys", destination=row.destination, container=row.container, state=state)
            cells.append(f'<a href="{link}">{n}</a>' if n else "0")
        cells += [str(row.linked), str(updated.get(row.destination, 0))]
        body.append(cells)
        reasons += [[e(row.destination), e(row.container), e(code), str(n)] for code, n in row.reasons.items()]
    taken = sorted({row.taken_at or "now" for row in rows})
    headers = ["destination", "source / board", *STATES, "linked", f"updated ({days:g} d)"]
    out = table(headers, body, left=2) if body else '<p class="muted">The ledger holds nothing you may see.</p>'
    if body:
        out += f'<p class="muted">Counted at the end of the last run: {e(", ".join(taken))}</p>'
    if reasons:
        out += "<h2>Refused and quarantined, by reason code</h2>" + table(
            ["destination", "source / board", "reason code", "objects"], reasons, left=3
        )
    return out


def history_table(runs: list[dict[str, Any]], base_url: str, page: int, more: bool) -> str:
    """Return one page of run history, with links to each Airflow run and to the pages around it."""
    rows = [
        [
            f'<a target="_top" href="{e(run_url(base_url, r["dag_id"], r["run_id"]))}">{e(r["run_id"])}</a>',
            e(r["dag_id"]),
            f'<span class="{"ok" if r["state"] == "success" else "bad"}">{e(r["state"])}</span>',
            e(r["ended_at"]),
            e(f"{r['duration_s']:.0f} s" if r["duration_s"] is not None else "-"),
            *(str(r[name]) for name in RUN_COUNTS),
        ]
        for r in runs
    ]
    nav = []
    if page > 0:
        nav.append(f'<a href="{href("./", page=page - 1)}">newer</a>')
    if more:
        nav.append(f'<a href="{href("./", page=page + 1)}">older</a>')
    headers = ["run", "DAG", "state", "ended", "duration", *RUN_COUNTS]
    return (table(headers, rows, left=2) if rows else '<p class="muted">No run recorded yet.</p>') + " · ".join(nav)


def keys_table(rows: list[dict[str, Any]], destination: str, container: str, state: str, more: bool) -> str:
    """Return one page of keys in a state, each linking to its profile; then the link to the next page."""
    body = [
        [
            f'<a href="{href("profile", key=r["object_key"])}">{e(r["object_key"])}</a>',
            e(r["remote_id"] or "-"),
            str(r["refusals"]),
            e(r["reason"] or ""),
            e(r["updated_at"]),
        ]
        for r in rows
    ]
    after = rows[-1]["object_key"] if rows and more else None
    link = href("keys", destination=destination, container=container, state=state, after=after)
    nav = f'<a href="{link}">next page</a>'
    return table(["key", "ATS id", "refusals", "reason", "updated"], body) + (nav if after else "")


def action_form(action: str, label: str, destination: str, key: str, csrf: str) -> str:
    return (
        f'<form class="inline" method="post" action="{e(action)}"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<input type="hidden" name="destination" value="{e(destination)}"><input type="hidden" name="key" '
        f'value="{e(key)}"><button type="submit">{e(label)}</button></form>'
    )


def profile_body(found: dict[str, Any], base_url: str, editable: set[str], csrf: str, message: str = "") -> str:
    """Return one key's story: its ledger row per destination (with the actions), failed attempts, actions."""
    out = f'<p class="msg">{e(message)}</p>' if message else ""
    if not found["rows"]:
        return out + f'<p class="muted">No ledger entry you may see for key {e(found["key"])}.</p>'
    rows = []
    for r in found["rows"]:
        url = record_url(r["destination"], r["remote_id"])
        ats = f'<a target="_blank" rel="noopener" href="{e(url)}">{e(r["remote_id"])}</a>' if url else e(r["remote_id"])
        forms = ""
        if r["dag_id"] in editable:
            if r["state"] == "quarantined":
                forms += action_form("release", "Release from quarantine", r["destination"], found["key"], csrf)
            forms += " " + action_form("resend", "Re-send on the next run", r["destination"], found["key"], csrf)
        rows.append(
            [
                e(r["destination"]),
                e(r["container"]),
                f"<b>{e(r['state'])}</b>",
                ats or "-",
                e(r["origin"]),
                str(r["attempts"]),
                str(r["refusals"]),
                e(r["reason"] or ""),
                e(r["updated_at"]),
                forms,
            ]
        )
    headers = [
        "destination",
        "source / board",
        "state",
        "ATS id",
        "origin",
        "attempts",
        "refusals",
        "last reason",
        "updated",
        "actions",
    ]
    out += table(headers, rows, left=2)
    attempts = [
        [
            f'<a target="_top" href="{e(run_url(base_url, a["dag_id"], a["run_id"]))}">{e(a["run_id"])}</a>',
            e(a["container"]),
            e(a["reason"]),
            e(a["ended_at"]),
        ]
        for a in found["attempts"]
    ]
    out += "<h2>Last failed attempts</h2>" + (
        table(["run", "source / board", "reason (redacted)", "ended"], attempts)
        if attempts
        else "<p>None recorded.</p>"
    )
    done = [[e(a["at"]), e(a["user"]), e(a["action"]), e(a["destination"]), e(a["outcome"])] for a in found["actions"]]
    out += "<h2>Actions</h2>" + (
        table(["at", "user", "action", "destination", "outcome"], done) if done else "<p>None.</p>"
    )
    return out
