"""HrFlowHook: the official hrflow SDK on the project's transport, configured from an Airflow Connection.

The SDK client and HrFlow's error envelope are in :mod:`.hrflow_client`; its errors are importable from here too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from hrflow import Hrflow

from hrflow_airflow.dates import as_datetime
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.hrflow_client import (
    HrFlowAuthError,
    HrFlowEmptyAnswerError,
    HrFlowError,
    HrFlowListingError,
    HrFlowNotFoundError,
    HrFlowQuotaError,
    SessionClient,
    dated,
    unwrap,
)
from hrflow_airflow.hooks.hrflow_tagging import SyncTagging
from hrflow_airflow.hooks.http import (
    CircuitBreaker,
    RateLimiter,
    RetryPolicy,
    connection_timeout,
    one_request,
    pooled_session,
    with_attempts,
)
from hrflow_airflow.hooks.keyset import DEFAULT_RESULT_WINDOW, Keyset, ListingTooDeepError, fitting
from hrflow_airflow.settings import settings

__all__ = [  # the hook, and HrFlow's errors (defined in hooks/hrflow_client.py)
    "HrFlowAuthError", "HrFlowEmptyAnswerError", "HrFlowError", "HrFlowHook", "HrFlowListingError",
    "HrFlowNotFoundError", "HrFlowQuotaError",
]  # fmt: skip

if TYPE_CHECKING:
    from hrflow_airflow.objects import ObjectKind

DEFAULT_API_URL = "https://api.hrflow.ai/v1/"
DEFAULT_TIMEOUT = 30.0


class HrFlowHook(SyncTagging, BaseHook):
    """
    Talk to the HrFlow.ai API through the official ``hrflow`` SDK.

    Connection fields: host = API base URL (empty means ``https://api.hrflow.ai/v1``), login = API user
    email, password = API secret, extra ``webhook_secret`` and optional ``timeout`` (seconds).

    :param hrflow_conn_id: the Airflow connection to use.
    :param retry: attempts and backoff for 429, 5xx and connection errors.
    :param requests_per_minute: client-side rate limit for accounts with a quota (None: no limit).
    :param pool_size: HTTP connections kept open, at least the number of threads using the hook.
    """

    conn_name_attr = "hrflow_conn_id"
    default_conn_name = "hrflow_default"
    conn_type = "hrflow"
    hook_name = "HrFlow.ai"

    def __init__(
        self,
        *,
        hrflow_conn_id: str = default_conn_name,
        retry: RetryPolicy | None = None,
        requests_per_minute: int | None = None,
        pool_size: int = 16,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.hrflow_conn_id = hrflow_conn_id
        self.retry = with_attempts(retry or RetryPolicy())
        self.requests_per_minute = requests_per_minute
        self.pool_size = pool_size
        self.breaker = CircuitBreaker(f"HrFlow ({hrflow_conn_id})")
        self.newest_write: str | None = None  # the newest updated_at HrFlow gave our own edits (see add_sync_tag)
        self.writes_lock = threading.Lock()

    @cached_property
    def connection(self):
        return self.get_connection(self.hrflow_conn_id)

    @cached_property
    def api_url(self) -> str:
        host = (self.connection.host or "").strip()
        return host.rstrip("/") + "/" if host else DEFAULT_API_URL

    @cached_property
    def webhook_secret(self) -> str:
        """Return the extra ``webhook_secret`` used to verify HrFlow webhook signatures."""
        secret = self.connection.extra_dejson.get("webhook_secret")
        if not secret:
            raise BadConfigError(f"Connection '{self.hrflow_conn_id}' has no extra 'webhook_secret'")
        return secret

    @cached_property
    def webhook_secrets(self) -> tuple[str, ...]:
        """
        Return the secrets a webhook may be signed with: ``webhook_secret``, and ``webhook_secret_next`` when set.

        During a rotation both verify: set the new secret as ``webhook_secret_next``, change it in HrFlow, then
        move it to ``webhook_secret`` and drop ``webhook_secret_next`` once no delivery uses the old one.
        """
        following = self.connection.extra_dejson.get("webhook_secret_next")
        return (self.webhook_secret, following) if following else (self.webhook_secret,)

    @cached_property
    def client(self) -> Hrflow:
        """Return the SDK client, built on first use."""
        conn = self.connection
        for field, label in (("login", "login (API user email)"), ("password", "password (API secret)")):
            if not getattr(conn, field):
                raise BadConfigError(f"Connection '{self.hrflow_conn_id}' has no {label}")
        timeout = connection_timeout(conn, self.hrflow_conn_id, DEFAULT_TIMEOUT)
        return SessionClient(
            session=pooled_session(self.pool_size, self.api_url),
            timeout=timeout,
            policy=self.retry,
            limiter=RateLimiter(self.requests_per_minute),
            breaker=self.breaker,
            api_url=self.api_url,
            api_secret=conn.password,
            api_user=conn.login,
            webhook_secret=conn.extra_dejson.get("webhook_secret"),
        )

    def get_conn(self) -> Hrflow:
        return self.client

    # -- responses ------------------------------------------------------------------------
    def _unwrap(self, response: dict[str, Any], what: str) -> Any:
        """Return ``data`` of an HrFlow envelope, or raise a typed error carrying HrFlow's message."""
        return unwrap(response, what, self.hrflow_conn_id)

    def _call(self, request: Callable[[], dict[str, Any]], what: str, *, listing: bool = False) -> dict[str, Any]:
        """
        Send one SDK request and return its envelope, retrying 2xx answers that carry no ``data``.

        The SDK turns any answer whose Content-Type is not ``application/json`` (a proxy's HTML page, say)
        into ``{"code": <status>, "message": "A generic error occurred..."}`` with no ``data``. Read as
        data, a 200 of that kind would look like an empty page and end a run that synced nothing, so it
        is retried like a 5xx and, if it persists, raised: never "nothing to sync".
        """
        with one_request(self.retry.attempts) as budget:
            while True:
                response = request()
                self._unwrap(response, what)  # raises on error statuses
                if "data" in response and (not listing or isinstance(response.get("meta"), dict)):
                    return response
                missing = "data" if "data" not in response else "meta"
                text = (
                    f"HrFlow {what}: HTTP {response.get('code')} without '{missing}' "
                    f"({str(response.get('message') or 'no message')[:80]}); not HrFlow's JSON answer"
                )
                if not budget.left:
                    raise HrFlowEmptyAnswerError(f"{text} after {budget.spent} attempts")
                wait = self.retry.delay(budget.spent)
                self.log.warning("%s; retrying in %.1fs", text, wait)
                time.sleep(wait)

    # -- operations -----------------------------------------------------------------------
    def search_page(
        self, kind: ObjectKind, containers: list[str], *, page: int, limit: int, **filters: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Return one page of search results (``GET /<plural>/searching``) and its ``meta``."""
        response = self._call(
            lambda: kind.search(self.client, containers, page=page, limit=limit, **dated(filters)),
            f"search {kind.plural}",
            listing=True,
        )
        data = response.get("data") or {}
        return list(data.get(kind.plural) or []), dict(response["meta"])

    def storing_page(
        self, kind: ObjectKind, containers: list[str], *, page: int, limit: int, **filters: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """
        Return one page of the storing listing (``GET /storing/<plural>``) with whole objects, and its ``meta``.

        Unlike search, the listing returns every stored object, searchable or not; it has no tag filter.
        """
        filters = {
            k: v for k, v in dated(filters).items() if k in ("sort_by", "order_by", "created_at_min", "created_at_max")
        }
        response = self._call(
            lambda: kind.list_stored(self.client, containers, page=page, limit=limit, **filters),
            f"list stored {kind.plural}",
            listing=True,
        )
        return list(response.get("data") or []), dict(response["meta"])

    def iter_search(
        self, kind: ObjectKind, containers: list[str], *, page_size: int = 100, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield every object search finds for ``filters``, each once (see :meth:`iter_pages`)."""
        return self.iter_pages(self.search_page, kind, containers, page_size=page_size, **filters)

    def iter_stored(
        self, kind: ObjectKind, containers: list[str], *, page_size: int = 100, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield every stored object of the containers, each once, searchable or not (see :meth:`iter_pages`)."""
        return self.iter_pages(self.storing_page, kind, containers, page_size=page_size, **filters)

    def iter_pages(
        self,
        read_page: Callable[..., tuple[list[dict[str, Any]], dict[str, Any]]],
        kind: ObjectKind,
        containers: list[str],
        *,
        page_size: int = 100,
        on_page: Callable[[int, dict[str, Any]], None] | None = None,
        after: tuple[datetime, Mapping[str, datetime | None]] | None = None,
        page_bytes: int | None = None,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every object ``read_page`` returns inside the filters' window, each once, oldest first.

        Paging is by ``created_at`` keyset (:class:`~hrflow_airflow.hooks.keyset.Keyset`, which says why): deep offsets
        are never asked for. ``on_page(objects_so_far, meta)`` is called after every page (progress).
        ``after=(instant, keys)`` resumes a listing from ``instant``, skipping ``keys`` (read at or after it);
        ``page_bytes``: later queries ask for no more objects than fit that many bytes (:func:`.keyset.fitting`).
        """
        filters = {"sort_by": "created_at", "order_by": "asc", **filters}
        keyset = Keyset(
            page_size,
            floor=as_datetime(filters.pop("created_at_min", None)),
            ceiling=as_datetime(filters.pop("created_at_max", None)),
            depth=settings().result_window or DEFAULT_RESULT_WINDOW,
        )
        if after is not None:
            keyset.resume(*after)
        count = 0
        while True:
            try:
                request = keyset.request()
            except ListingTooDeepError as exc:
                raise HrFlowListingError(f"HrFlow listing of {kind.plural} in {containers}: {exc}") from None
            page = request.pop("page")
            objs, meta = read_page(kind, containers, page=page, limit=page_size, **request, **filters)
            wanted = fitting(objs, page_bytes, page_size) if page_bytes and keyset.page == 1 else page_size
            for obj in keyset.new(objs):
                count += 1
                yield obj
            if on_page is not None:
                on_page(count, meta)
            if not keyset.advance(objs):
                return
            page_size = keyset.resize(wanted)

    def get_object(self, kind: ObjectKind, container: str, key: str) -> dict[str, Any]:
        """Return the current stored object."""
        return self._call(lambda: kind.get(self.client, container, key), f"get {kind.name} {key}")["data"]

    def edit_object(self, kind: ObjectKind, container: str, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole object back (not retried on a 2xx without data: add_sync_tag re-reads first)."""
        return self._unwrap(kind.edit(self.client, container, obj), f"edit {kind.name} {obj.get('key')}")

    def test_connection(self) -> tuple[bool, str]:
        """Check the API secret and user against ``GET /auth``."""
        try:
            response = self.client.auth.get()
        except ValueError as exc:  # the SDK checks the secret's shape before calling
            return False, f"API secret of connection '{self.hrflow_conn_id}' is malformed: {exc}"
        except Exception as exc:
            return False, f"Cannot reach HrFlow at {self.api_url}: {exc}"
        try:
            self._unwrap(response, "auth")
        except HrFlowError as exc:
            return False, str(exc)
        return True, f"Connected to HrFlow at {self.api_url}"
