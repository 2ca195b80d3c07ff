"""
The HrFlow page: a FastAPI app the plugin mounts on the api-server at ``/hrflow-ui``, shown in Airflow's navigation
as an external view (``hrflow_airflow.plugin``). Every route checks the user through Airflow's auth manager
(:mod:`.auth`); what it shows is limited to the sync DAGs the user may read; actions are CSRF-checked POSTs
refused to a role that may not edit the DAG, and recorded with the user's name.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import SYNC_DAGS
from hrflow_airflow.settings import setting
from hrflow_airflow.ui import auth, pages, queries
from hrflow_airflow.ui.actions import ACTIONS, act

log = logging.getLogger(__name__)
User = Annotated[Any, Depends(auth.current_user)]
UPDATED_WINDOW_DAYS = 30

app = FastAPI(title="HrFlow.ai sync page", docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(HTTPException)
async def refused(request: Request, exc: HTTPException) -> HTMLResponse:
    """Answer a refusal as a short page: 401 with a link to Airflow's login, 403 saying why."""
    body = f"<p>{pages.e(exc.detail)}</p>"
    if exc.status_code == 401:
        body += f'<p><a target="_top" href="{pages.e(login_url())}">Log in to Airflow</a> to see this page.</p>'
    return HTMLResponse(f"<!doctype html><title>HrFlow sync</title>{body}", status_code=exc.status_code)


def login_url() -> str:
    try:
        return auth.auth_manager().get_url_login()
    except Exception:  # no auth manager in this process (a test app): Airflow's own login path
        return "/auth/login"


def base_url() -> str:
    from airflow.sdk import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def visible(user: Any) -> dict[str, str]:
    """Return the sync DAGs ``user`` may read, each with the ATS connection it writes."""
    return {dag_id: SYNC_DAGS[dag_id].ats_conn_id for dag_id in sorted(auth.dag_ids(user))}


def next_runs(dag_ids: list[str]) -> dict[str, str]:
    """Return when the scheduler creates each DAG's next run (none for a paused DAG), from Airflow's database."""
    try:
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            models = session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids)))
            return {
                m.dag_id: m.next_dagrun_create_after.isoformat(timespec="seconds")
                for m in models
                if m.next_dagrun_create_after and not m.is_paused
            }
    except Exception as exc:  # the counts still show
        log.warning("Next runs unavailable: %s", exc)
        return {}


@app.get("/", response_class=HTMLResponse)
def overview(user: User, page: int = 0) -> str:
    """Per destination and source: counts, refusals by reason; each sync DAG's last and next run; run history."""
    ledger, dags = Ledger(), visible(user)
    since = (datetime.now(timezone.utc) - timedelta(days=UPDATED_WINDOW_DAYS)).isoformat(timespec="seconds")
    rows = queries.counts(ledger.db, dags)
    nxt = next_runs(list(dags))
    runs = queries.run_history(ledger.db, dags, page, queries.PAGE + 1)
    body = (
        pages.schedule_cards(
            {d: {"conn_id": c, "next_run": nxt.get(d)} for d, c in dags.items()},
            queries.last_runs(ledger.db, dags),
            base_url(),
        )
        + "<h2>Objects per destination and source (the sync ledger)</h2>"
        + pages.counts_table(rows, queries.updated_since(ledger.db, dags, since), UPDATED_WINDOW_DAYS)
        + "<h2>Run history</h2>"
        + pages.history_table(runs[: queries.PAGE], base_url(), page, len(runs) > queries.PAGE)
    )
    return pages.layout("overview", body, auth.user_name(user))


@app.get("/keys", response_class=HTMLResponse)
def keys(user: User, destination: str, container: str, state: str, after: str = "") -> str:
    """One page of the keys in a state at a destination, for one source or board."""
    if not queries.owner(destination, visible(user)):
        raise HTTPException(status_code=404, detail="No such destination among the DAGs you may read")
    rows = queries.keys_in_state(Ledger().db, destination, container, state, after, queries.PAGE + 1)
    title = f"{state} at {destination}, {container}"
    table = pages.keys_table(rows[: queries.PAGE], destination, container, state, len(rows) > queries.PAGE)
    return pages.layout(title, table, auth.user_name(user))


@app.get("/profile", response_class=HTMLResponse)
def profile(request: Request, user: User, key: str, msg: str = "") -> str:
    """One key: its ledger state per destination, ATS id and link, failed attempts, actions (if allowed)."""
    dags = visible(user)
    found = queries.profile(Ledger().db, key.strip(), dags, dags)
    editable = auth.dag_ids(user, "PUT")
    body = pages.profile_body(found, base_url(), editable, auth.csrf_token(request), msg)
    return pages.layout(f"key {key.strip()}", body, auth.user_name(user))


@app.post("/{action}")
async def action(request: Request, user: User, action: str) -> RedirectResponse:
    """Release or re-send one key: a CSRF-checked POST, refused to a role that may not edit the DAG, logged."""
    if action not in ACTIONS:
        raise HTTPException(status_code=404, detail=f"No action {action!r}")
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
    auth.check_csrf(request, form.get("csrf", ""))
    destination, key = form.get("destination", ""), form.get("key", "").strip()
    dag_id = queries.owner(destination, visible(user))
    if not dag_id or not key:
        raise HTTPException(status_code=404, detail="No such destination among the DAGs you may read")
    auth.require_edit(user, dag_id)
    name, days = auth.user_name(user), setting("history_days")
    outcome = act(Ledger(), action, user=name, destination=destination, key=key, keep_days=days)
    log.info("HrFlow page: %s %s %s at %s: %s", name, action, key, destination, outcome)
    return RedirectResponse(f"profile?{urlencode({'key': key, 'msg': f'{action}: {outcome}'})}", status_code=303)
