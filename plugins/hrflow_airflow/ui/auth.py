"""
Who may see and steer the HrFlow page: Airflow's auth manager decides, on every request.

Airflow does not authenticate a plugin's FastAPI app (https://airflow.apache.org/docs/apache-airflow/3.3.0/howto/
custom-view-plugin.html): each route depends on :func:`current_user`, which reads the JWT the UI holds (cookie
``_token``, or an ``Authorization: Bearer`` header) exactly as Airflow's own REST API does
(``airflow.api_fastapi.core_api.security.get_user``): no token is 401, an invalid one 403. What the user sees is
limited to the sync DAGs the auth manager lets them read (``GET``); an action needs the right to edit that DAG
(``PUT``: the simple auth manager's ``USER`` role and above, never ``VIEWER``).

CSRF: an action is a POST carrying a token derived from the user's own JWT (an HMAC keyed by it), which a page
of another origin cannot read; a POST whose ``Origin`` names another host is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from hrflow_airflow.objects import SYNC_DAGS


def auth_manager() -> Any:
    """Return the api-server's auth manager."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def presented_token(request: Request) -> str:
    """Return the JWT this request presents (bearer header first, as Airflow's API reads it), or ``""``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get("_token", "")


async def current_user(request: Request) -> Any:
    """Return the user of this request, validated by the auth manager; raise 401 (no token) or 403 (invalid)."""
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    return await resolve_user_from_token(presented_token(request) or None)


def dag_ids(user: Any, method: str = "GET") -> set[str]:
    """Return the sync DAGs ``user`` may read (``GET``) or edit (``PUT``)."""
    return set(auth_manager().filter_authorized_dag_ids(dag_ids=set(SYNC_DAGS), user=user, method=method))


def user_name(user: Any) -> str:
    """Return the user's name as the auth manager gives it (the action log records it)."""
    return str(user.get_name())


def csrf_token(request: Request) -> str:
    """Return the CSRF token of this request's session: an HMAC of a constant keyed by its JWT."""
    token = presented_token(request).encode()
    return hmac.new(token, b"hrflow-page-action", hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, submitted: str) -> None:
    """Refuse (403) a POST without this session's CSRF token, or sent from a page of another origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(status_code=403, detail="Cross-origin request refused")
    if not submitted or not hmac.compare_digest(submitted, csrf_token(request)):
        raise HTTPException(status_code=403, detail="Missing or wrong CSRF token: reload the page and try again")


def require_edit(user: Any, dag_id: str) -> None:
    """Refuse (403) an action on ``dag_id``'s objects to a user who may not edit that DAG."""
    if dag_id not in dag_ids(user, "PUT"):
        raise HTTPException(status_code=403, detail=f"Your role may not edit {dag_id}: this action is refused")
