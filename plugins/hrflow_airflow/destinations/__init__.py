"""
ATS destinations, chosen by the connection type of ``ats_default`` (profiles) or ``ats_jobs_default`` (jobs).

A destination is built from a client, by composition: the client is the hook that speaks the ATS's HTTP API
(one small module per ATS), the engine owns exactly once. Two engines: the JSON batch endpoint
(:class:`~.json_batch.JsonBatchDestination`) and one candidate per request
(:class:`~.per_object.PerObjectDestination`).

:data:`REGISTRY` names every adapter class; each class declares its connection type (``conn_type``, and
``also_conn_types``), its UI name (``hook_name``), its engine (``engine``) and its connection form (``form``, see
:mod:`hrflow_airflow.forms`). :data:`ADAPTERS`, the provider's hook modules and its ATS connection forms
(``get_provider_info()``) are generated from it, and it is discovered: adding an ATS means one client module here
(with its form), its emulator module in ``sandbox/`` (with its ``VENDOR`` entry) and one docs section
(docs/destinations.md, "Add an ATS").

Every destination offers :class:`~hrflow_airflow.destinations.base.Destination`: ``deliver()`` sends one
batch's records and reports, per object, what was accepted (with the ATS's id) and what was refused.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from hrflow_airflow.errors import BadConfigError

if TYPE_CHECKING:
    from hrflow_airflow.destinations.base import Destination

JSON_BATCH = "hrflow_airflow.destinations.json_batch:JsonBatchDestination"
PER_OBJECT = "hrflow_airflow.destinations.per_object:PerObjectDestination"
ENGINES = ("base", "candidate_api", "json_batch", "per_object", "records")  # this package's modules that are no ATS


def discover() -> tuple[str, ...]:
    """
    Return every ATS adapter's client (``"module:Class"``): the JSON endpoint's hook, then each class of a module
    of this package that declares its ``engine`` in its body, read from the source (nothing is imported). A new
    ATS is its module here: no list to add it to.
    """
    import ast
    from pathlib import Path

    found = ["hrflow_airflow.hooks.api_key:AtsHook"]
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.stem in ENGINES or path.stem.startswith("_"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "engine" for t in stmt.targets)
                for stmt in node.body
            ):
                found.append(f"{__name__}.{path.stem}:{node.name}")
    return tuple(found)


# Every ATS adapter (its client, "module:Class"): the rest is the class's own declaration
REGISTRY = discover()


class DestinationError(BadConfigError):
    """Raise when the destination connection is missing or of a type no adapter handles."""


def load(path: str) -> Any:
    """Return the object ``"module:name"`` names."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def declaration(path: str) -> dict[str, Any]:
    """
    Return what adapter ``path`` declares in its class body (``conn_type``, ``also_conn_types``, ``hook_name``,
    ``engine``, ``form``), read from its source: no adapter module, hence no Airflow, is imported.
    """
    from hrflow_airflow.forms import read_declaration

    return read_declaration(path, JSON_BATCH=JSON_BATCH, PER_OBJECT=PER_OBJECT)


@cache
def adapters() -> dict[str, tuple[str, str]]:
    """Return connection type -> (engine "module:class", client "module:class"), from :data:`REGISTRY`."""
    table: dict[str, tuple[str, str]] = {}
    for path in REGISTRY:
        declared = declaration(path)
        for conn_type in (declared["conn_type"], *declared.get("also_conn_types", ())):
            if conn_type in table:
                raise DestinationError(f"connection type '{conn_type}' is claimed by {table[conn_type][1]} and {path}")
            table[conn_type] = (declared["engine"], path)
    return table


def connection_types() -> list[dict[str, Any]]:
    """Return the provider ``connection-types`` entries of the adapters: each class's declared form."""
    entries = []
    for path in REGISTRY:
        declared = declaration(path)
        module, _, name = path.partition(":")
        entries.append(declared["form"].entry(f"{module}.{name}", declared["hook_name"], declared["conn_type"]))
    return entries


def record_url(conn_type: str, remote_id: str | None) -> str | None:
    """Return record ``remote_id``'s page in the app of the adapter of ``conn_type``, where its vendor documents one."""
    entry = adapters().get(conn_type)
    client = load(entry[1]) if entry and remote_id else None
    return client.record_url(remote_id) if client is not None and hasattr(client, "record_url") else None


def hook_modules() -> list[str]:
    """Return the modules of the adapters' hooks (the provider's ``hooks`` python-modules), in registry order."""
    return list(dict.fromkeys(path.partition(":")[0] for path in REGISTRY))


def __getattr__(name: str) -> Any:
    """``ADAPTERS``: :func:`adapters`, generated on first use (importing this package imports no adapter)."""
    if name == "ADAPTERS":
        return adapters()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def destination_for(conn_id: str, kind_name: str | None = None) -> Destination:
    """
    Return the adapter for connection ``conn_id``, picked by its ``conn_type``.

    ``kind_name`` ("profile" / "job") is checked against what the adapter can create.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise DestinationError(
            f"Connection '{conn_id}' (the ATS destination) is not defined: create it with one of "
            f"the types {', '.join(sorted(adapters()))}"
        ) from None
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in adapters():
        raise DestinationError(
            f"Connection '{conn_id}' has type '{conn.conn_type}', which no ATS adapter handles; "
            f"use one of {', '.join(sorted(adapters()))}"
        )
    engine, client = adapters()[conn_type]
    destination = load(engine)(load(client)(ats_conn_id=conn_id))
    if kind_name and kind_name not in destination.kinds:
        raise DestinationError(
            f"Connection '{conn_id}' is a {conn_type} connection, which creates "
            f"{' and '.join(sorted(destination.kinds))}s only, not {kind_name}s"
        )
    return destination
