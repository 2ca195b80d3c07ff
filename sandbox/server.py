"""Local stand-ins for the HrFlow.ai API, the ATSs and the messaging services: one threaded HTTP server.

The request handler holds the plumbing (answers, faults, in-flight counts) and one route table (:data:`ROUTES`,
path prefix -> area and emulator); each emulator is a module of its own: ``hrflow_api.py``, ``receivers.py``,
``twilio_api.py``, one module per ATS emulator, ``control.py``; ``state.py`` holds what they
hold, ``objects.py`` the objects and credentials, ``connections.py`` the Airflow connections to them. The areas:

* ``/v1/...``     an HrFlow API emulator speaking exactly what the ``hrflow`` SDK sends and expects
                  (``X-API-KEY``/``X-USER-EMAIL`` auth, JSON-encoded list params in the query
                  string, the ``{code, message, meta, data}`` envelope, ``application/json``).
                  It models the real API's documented behaviour, not a kinder one:
                  - Searching (``GET /profiles/searching``) only sees *eligible* profiles: non-empty
                    ``text`` and either an email or a first and a last name, or half of phone, date of
                    birth, gender, summary, urls and location
                    (https://developers.hrflow.ai/docs/assess-profile-eligibility-for-searching);
                  - the search index lags behind writes by ``index_delay`` seconds (HrFlow indexes
                    asynchronously and announces it with ``profile.searching.success``);
                  - Storing listing (``GET /storing/profiles``, ``GET /storing/jobs``, SDK
                    ``<kind>.storing.list``) returns every stored object, paged with ``page``/``limit``,
                    sorted by ``created_at``; ``data`` is a list, full objects only with
                    ``return_profile``/``return_job``
                    (https://developers.hrflow.ai/reference "Find Profiles stored in Sources");
                  - documented statuses such as 402 "Over plan quota on this endpoint"
                    (https://developers.hrflow.ai/reference/errors) and, as a fault, a 2xx ``text/html``
                    page from a proxy;
* ``/ats/<kind>`` a recording ATS receiver that honours ``Idempotency-Key`` (``honour_idempotency``;
                  turn it off to model the many real ATS endpoints that ignore the header);
* ``/sms``        a recording messaging receiver that honours ``Idempotency-Key``;
* ``/smartrecruiters/...``, ``/workable/...`` SmartRecruiters and Workable emulators (``sandbox/smartrecruiters.py``,
                  ``workable.py``);
* ``/greenhouse/...`` (``/greenhouse-auth/token``), ``/lever/...``, ``/teamtailor/...`` the Greenhouse Harvest v3,
                  Lever and Teamtailor emulators (``sandbox/greenhouse.py``, ``lever.py``, ``teamtailor.py``);
                  every ATS emulator is routed from its entry in ``sandbox/registry.py``;
* ``/twilio/...`` a Twilio Programmable Messaging emulator (see ``_twilio``), reached by the official
                  ``twilio`` SDK through its API domain's base URL.
* ``/slack/...``  a Slack Incoming Webhook emulator (``sandbox/slack.py``), for Slack alerts.

``/_sandbox/...`` is the control plane used by the demo, tests and benchmarks: seed objects,
inject latency and faults, read what was received.
"""

from __future__ import annotations

import html
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from sandbox.connections import sandbox_connections
from sandbox.control import ControlRoutes
from sandbox.faults import Fault
from sandbox.hrflow_api import HrFlowRoutes
from sandbox.objects import ATS_API_KEY, SMS_API_KEY
from sandbox.receivers import ReceiverRoutes
from sandbox.registry import VENDORS, Vendor
from sandbox.slack import SlackRoutes
from sandbox.state import SandboxState
from sandbox.twilio_api import TwilioRoutes, twilio_error


class _Handler(HrFlowRoutes, TwilioRoutes, SlackRoutes, ReceiverRoutes, ControlRoutes, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: don't wait on delayed ACKs
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the sandbox quiet
        pass

    @property
    def state(self) -> SandboxState:
        return self.server.state

    # -- plumbing ---------------------------------------------------------------------
    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():  # a streamed upload
            return self._chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked(self) -> bytes:
        parts = []
        while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()  # the empty trailer
        return b"".join(parts)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, b"" if status == 204 else msgspec.json.encode(payload), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _envelope(self, status: int, message: str, data: Any = None, meta: dict | None = None) -> None:
        """Answer with HrFlow's envelope. Serialized under the state lock: no copy of stored objects is made."""
        body: dict[str, Any] = {"code": status, "message": message, "data": data}
        if meta is not None:
            body["meta"] = meta
        with self.state.lock:
            raw = msgspec.json.encode(body)
        if not self._after_apply(getattr(self, "_fault", None)):
            self._send_raw(status, raw)

    def _after_apply(self, fault: Fault | None) -> bool:
        """Play an after-the-apply fault: drop the answer, delay it, or replace it by a gateway's 5xx.

        Return True when the fault answered (or dropped) instead of the request's own answer.
        """
        if fault is None:
            return False
        if fault.lose_response:  # the request was applied; its answer never arrives
            self._drop()
            return True
        if fault.slow_apply:
            time.sleep(fault.slow_apply)
        if fault.applied_status:  # applied; a gateway in front answers 502/504 instead (the common real case)
            self._send(fault.applied_status, {"code": fault.applied_status, "message": fault.reason})
            return True
        return False

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        path = url.path
        area, serve = route(path)
        with self.state.lock:
            self.state.calls[f"{method} {path}"] += 1
            self.state.request_log.append((time.time(), f"{method} {path}"))
            self.state.in_flight[area] += 1
            self.state.max_in_flight[area] = max(self.state.max_in_flight[area], self.state.in_flight[area])
        try:
            fault = None if area == "control" else self._fault_for(method, url, path, area, body)
            if fault is not ANSWERED:
                self._fault = fault  # lose_response / slow_apply / applied_status: played by whichever area answers
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                serve(self, Request(method, path, url.query, query, body, fault))
        except BrokenPipeError:
            pass
        finally:
            with self.state.lock:
                self.state.in_flight[area] -= 1

    def _fault_for(self, method: str, url: Any, path: str, area: str, body: bytes) -> Fault | None | object:
        """Apply the area's latency and take the request's fault; answer it here when it is an error."""
        vendor = path.startswith(VENDOR_PREFIXES)
        if (delay := self.state.latency.get(area)) and not vendor:  # a vendor counts its answer time in flight
            time.sleep(delay)
        fault = self.state.take_fault(method, path, url.query + body.decode("utf-8", "replace"))
        if fault and fault.status == 0:
            time.sleep(fault.delay)
            return None
        if fault and fault.content_type != "application/json":
            time.sleep(fault.delay)  # a proxy's page: whatever the status, not HrFlow's JSON
            page = f"<html><body><h1>{fault.status}</h1><p>{html.escape(fault.reason)}</p></body></html>".encode()
            self._send_raw(fault.status, page, {"Content-Type": fault.content_type})
            return ANSWERED
        if fault and not (fault.lose_response or fault.slow_apply or fault.applied_status):
            time.sleep(fault.delay)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if area == "twilio":  # Twilio's error shape; 429 is its error 20429, "never processed"
                code = 20429 if fault.status == 429 else fault.status
                self._send(fault.status, twilio_error(code, fault.reason, fault.status), headers)
            else:
                self._send(fault.status, {"code": fault.status, "message": fault.reason}, headers)
            return ANSWERED
        return fault


ANSWERED = object()  # the fault answered the request itself
VENDOR_PREFIXES = tuple(f"{prefix}/" for vendor in VENDORS for prefix in vendor.prefixes)


@dataclass(frozen=True)
class Request:
    """One request as a route sees it: method, path, raw and parsed query, body, and its after-the-apply fault."""

    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    body: bytes
    fault: Fault | None


def _not_found(handler: _Handler, request: Request) -> None:
    handler._send(404, {"message": f"no route {request.path}"})


def _emulator(vendor: Vendor) -> Callable[[_Handler, Request], None]:
    """Route to one vendor emulator's ``serve``, with the ATS area's latency before it (or in flight, inside it)."""

    def answer(handler: _Handler, r: Request) -> None:
        latency = handler.state.latency.get("ats", 0.0)
        route, vendors = r.path[len(vendor.prefix) :], handler.state.vendors
        if vendor.latency_in_flight:
            return vendor.serve(handler, vendors, r.method, route, r.query, r.body, r.fault, latency)
        if latency:
            time.sleep(latency)
        return vendor.serve(handler, vendors, r.method, route, r.query, r.body, r.fault)

    return answer


def _token_host(vendor: Vendor) -> tuple[str, str, Callable[[_Handler, Request], None]]:
    """Route a vendor's token host (Greenhouse's ``/greenhouse-auth``) to its ``serve_auth``, without latency."""
    prefix, serve_auth = vendor.auth
    return f"{prefix}/", "ats", lambda h, r: serve_auth(h, h.state.vendors, r.method, r.path[len(prefix) :], r.body)


def _vendor_routes() -> tuple[tuple[str, str, Callable[[_Handler, Request], None]], ...]:
    """Return the routes of the registry's emulators: their token hosts first (``/greenhouse-auth/``)."""
    tokens = tuple(_token_host(vendor) for vendor in VENDORS if vendor.auth)
    return tokens + tuple((f"{vendor.prefix}/", "ats", _emulator(vendor)) for vendor in VENDORS)


# The route table: path prefix -> (area, what answers). Each request is routed once.
ROUTES: tuple[tuple[str, str, Callable[[_Handler, Request], None]], ...] = (
    ("/v1/", "hrflow", lambda h, r: h._hrflow(r.method, r.path[4:], r.query, r.body)),
    ("/ats/", "ats", lambda h, r: h._receiver(h.state.ats_area(r.path[5:]), ATS_API_KEY, r.body, r.path[5:], r.fault)),
    *_vendor_routes(),  # the ATS emulators of sandbox/registry.py
    ("/twilio/", "twilio", lambda h, r: h._twilio(r.method, r.path[len("/twilio") :], r.raw_query, r.body, r.fault)),
    ("/slack/", "slack", lambda h, r: h._slack(r.method, r.path[len("/slack") :], r.body, r.fault)),
    ("/_sandbox/", "control", lambda h, r: h._control(r.method, r.path[10:], r.query, r.body)),
    ("/files/", "files", lambda h, r: h.state.cv_files.serve(h, r.path)),  # HrFlow's storage of the CVs
)


def route(path: str) -> tuple[str, Callable[[_Handler, Request], None]]:
    """Return the area and the route that answer ``path``."""
    if path == "/sms":
        return "sms", lambda h, r: h._receiver(h.state.sms, SMS_API_KEY, r.body, "sms", r.fault)
    for prefix, area, serve in ROUTES:
        if path.startswith(prefix):
            return area, serve
    return "sms", _not_found


class SandboxServer(ThreadingHTTPServer):
    """The sandbox HTTP server; ``state`` is shared with in-process callers."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.state = state or SandboxState()
        self.state.files_url = self.url  # profiles seeded from now on point their CVs here

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up (timeouts, dropped responses); report real bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> SandboxServer:
        threading.Thread(target=self.serve_forever, name="sandbox", daemon=True).start()
        return self

    def connections(self) -> dict[str, dict[str, Any]]:
        return sandbox_connections(self.url)

    def airflow_env(self) -> dict[str, str]:
        """Return the ``AIRFLOW_CONN_*`` environment variables for :meth:`connections`."""
        return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in self.connections().items()}
