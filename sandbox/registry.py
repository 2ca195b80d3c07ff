"""
The sandbox's ATS emulators, one :class:`Vendor` entry each in :data:`VENDORS`.

An entry says where the emulator answers (``prefix``, and a token host of its own: ``auth``), what answers
(``serve``), the emulated account it keeps (``account``: ``state.vendors.<name>``), how to connect to it
(``connection(base_url)``, and the demo's ``demo``) and what the contract suite needs (``create_path``,
``secret``). The server's routes (``sandbox/server.py``), the accounts (``sandbox/vendors.py``, :class:`Vendors`)
and ``make demo ATS=<name>`` (``sandbox/demo.py``) are built from it: a new emulator is its module and one entry
here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox import greenhouse, lever, teamtailor
from sandbox.vendors import (
    SMARTRECRUITERS_TOKEN,
    SR_INTERVAL,
    WORKABLE_INTERVAL,
    WORKABLE_TOKEN,
    VendorAts,
    _first_value,
    _smartrecruiters,
    _workable,
    smartrecruiters_connection,
    workable_connection,
)

# serve(handler, vendors, method, route, query, body, fault): route is the path after the prefix
Serve = Callable[..., None]
# serve_auth(handler, vendors, method, route, body), for the token host
ServeAuth = Callable[[Any, Any, str, str, bytes], None]


@dataclass(frozen=True)
class Vendor:
    """One ATS emulator of the sandbox."""

    name: str  # the connection type, ATS=<name> of the demo, and the account's name: state.vendors.<name>
    prefix: str  # the sandbox path standing for the vendor's API host: "/lever" for https://api.lever.co
    serve: Serve
    account: Callable[[], VendorAts]  # a new, empty emulated account
    connection: Callable[..., dict[str, Any]]  # (base_url, **extra) -> an ats_default connection to the emulator
    create_path: str  # the sandbox path a create is POSTed to
    secret: str  # the credential in that connection (never to be logged)
    demo: Callable[[str], dict[str, Any]] | None = None  # `make demo ATS=<name>`'s connection; None: connection
    auth: tuple[str, ServeAuth] | None = None  # (prefix, serve_auth) of its token host (Greenhouse's)
    latency_in_flight: bool = False  # the ATS latency is spent inside serve(latency=...), counted in flight

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Return every path prefix the emulator answers."""
        return (self.prefix, *((self.auth[0],) if self.auth else ()))

    def demo_connection(self, base_url: str) -> dict[str, Any]:
        """Return the connection ``make demo ATS=<name>`` uses."""
        return (self.demo or self.connection)(base_url)


VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "smartrecruiters",
        "/smartrecruiters",
        _smartrecruiters,
        lambda: VendorAts("smartrecruiters", interval=SR_INTERVAL),
        smartrecruiters_connection,
        "/smartrecruiters/candidates",
        SMARTRECRUITERS_TOKEN,
        latency_in_flight=True,  # its concurrency limit holds across the whole answer time
    ),
    Vendor(
        "workable",
        "/workable",
        _workable,
        lambda: VendorAts("workable", interval=WORKABLE_INTERVAL),
        workable_connection,
        "/workable/spi/v3/talent_pool/candidates",
        WORKABLE_TOKEN,
        demo=lambda url: workable_connection(url, oauth=True),  # an OAuth token, 50 requests / 10 s: a short demo
    ),
    Vendor(
        "greenhouse",
        "/greenhouse",
        greenhouse.serve,
        lambda: VendorAts("greenhouse", interval=10.0, email_of=_first_value("email_addresses")),
        greenhouse.connection,
        "/greenhouse/v3/candidates",
        greenhouse.CLIENT_SECRET,
        auth=("/greenhouse-auth", greenhouse.serve_auth),  # https://auth.greenhouse.io
    ),
    Vendor(
        "lever",
        "/lever",
        lever.serve,
        lambda: VendorAts("lever", interval=1.0, email_of=lambda o: (o.get("emails") or [""])[0]),
        lever.connection,
        "/lever/v1/opportunities",
        lever.API_KEY,
    ),
    Vendor(
        "teamtailor",
        "/teamtailor",
        teamtailor.serve,
        lambda: VendorAts("teamtailor", interval=10.0, email_of=lambda c: c["attributes"].get("email")),
        teamtailor.connection,
        "/teamtailor/v1/candidates",
        teamtailor.API_KEY,
    ),
)
BY_NAME = {vendor.name: vendor for vendor in VENDORS}
