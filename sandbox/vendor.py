"""
One ATS emulator's entry in the sandbox (:class:`Vendor`): each emulator module declares its own (``VENDOR``, or
``VENDORS`` for a module that holds two), and ``sandbox/registry.py`` finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.accounts import VendorAts

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
    # the contract suite's parameters (tests/contract/): a valid record of profile i (without hrflow_key), the
    # removal the API documents and the one it lacks, where updates, removals and lookups go (method, path
    # prefix, a body marker or None), and a record of its own the account holds for a person before the sync
    fields: Callable[[int], dict[str, Any]] = lambda i: {}
    removal: str = "delete"
    unsupported: str | None = "archive"
    update_route: tuple[str, str, str | None] = ("PATCH", "/", None)
    remove_route: tuple[str, str, str | None] = ("DELETE", "/", None)
    lookup_route: tuple[str, str, str | None] = ("GET", "/", None)
    stranger: Callable[..., str] | None = None

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Return every path prefix the emulator answers."""
        return (self.prefix, *((self.auth[0],) if self.auth else ()))

    def demo_connection(self, base_url: str) -> dict[str, Any]:
        """Return the connection ``make demo ATS=<name>`` uses."""
        return (self.demo or self.connection)(base_url)
