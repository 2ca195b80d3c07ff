"""
What HrFlow archived or deleted leaves the ATS (docs/sync.md, "Archived and deleted objects").

On a full sweep, the storing listing's keys are written to the ledger's database as they are read
(:class:`~hrflow_airflow.ledger.seen.SeenKeys`); the synced objects of the run's containers that it did not return
are found by one anti-join, a chunk at a time. Each is then read by key: ``archived_at`` set means archived, HrFlow's
"Unable to find object" means deleted, and an object still there and not archived means nothing (a listing glitch
removes nothing). What happens next is ``[hrflow] on_archive`` (param ``on_archive``): ``keep`` reports them,
``archive`` / ``delete`` remove them through the destination, once, recorded in the ledger as ``removed``.

A run that would remove more than ``[hrflow] max_removals_per_run`` removes nothing: the first such run fails (one
alert), later ones log why and do nothing, until a run with param ``confirm_removals``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypedDict

from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.hrflow_api import HrFlowHook, HrFlowNotFoundError
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.ledger.seen import SeenKeys
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.settings import setting

log = logging.getLogger(__name__)
MODES = ("keep", "archive", "delete")


class Gone(TypedDict):
    """What a full sweep found gone from HrFlow among the synced objects: ``[key, container, remote id]`` each."""

    archived: list[list[str | None]]
    deleted: list[list[str | None]]
    missing: int  # synced objects the listing did not return (read by key; the rest are still there)
    stopped: str | None  # why nothing was read or will be removed (the guard), or None


def removal_mode(params: Mapping[str, Any]) -> str:
    """Return what the run does with archived and deleted objects: the param, else ``[hrflow] on_archive``."""
    mode = params.get("on_archive") or setting("on_archive") or "keep"
    if mode not in MODES:
        raise BadConfigError(f"on_archive must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def confirmed(params: Mapping[str, Any]) -> bool:
    return bool(params.get("confirm_removals"))


def find_gone(
    kind: ObjectKind,
    hook: HrFlowHook,
    seen: SeenKeys,
    *,
    ledger: Ledger,
    ledger_key: str,
    containers: list[str],
    listed: int,
    params: Mapping[str, Any],
    concurrency: int = 8,
) -> Gone:
    """Return the synced objects of ``containers`` the sweep did not list and HrFlow archived or deleted."""
    gone = Gone(archived=[], deleted=[], missing=0, stopped=None)
    limit = setting("max_removals_per_run")
    unread = limit * 10 if limit and not confirmed(params) else None  # past it, reading on only ends at the guard
    try:
        if not listed and ledger.deliveries.count(ledger_key, "synced"):
            gone["stopped"] = "the storing listing returned no object at all: removals skipped (a listing glitch?)"
            log.warning("%s", gone["stopped"])
            return gone
        for chunk in seen.missing(ledger_key, containers):
            gone["missing"] += len(chunk)
            if unread is not None and gone["missing"] > unread:
                break
            with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="hrflow-gone") as pool:
                states = list(pool.map(lambda row: state_of(kind, hook, row[0], row[1]), chunk))
            for (key, container, remote), state in zip(chunk, states):
                if state != "present":
                    gone[state].append([key, container, remote])
    finally:
        seen.clear()
    found = len(gone["archived"]) + len(gone["deleted"])
    log.info(
        "Full sweep: %s synced %s not listed; read by key: %s archived, %s deleted, the rest still there",
        gone["missing"],
        kind.plural,
        len(gone["archived"]),
        len(gone["deleted"]),
    )
    if unread is not None and (found > limit or gone["missing"] > unread):
        gone["stopped"] = (
            f"{max(found, gone['missing'])} synced {kind.plural} are gone from HrFlow, more than [hrflow] "
            f"max_removals_per_run ({limit}): nothing is removed until a run with param confirm_removals"
        )
    return gone


def state_of(kind: ObjectKind, hook: HrFlowHook, key: str, container: str) -> str:
    """Return "archived", "deleted" or "present" for one object, read by key."""
    try:
        obj = hook.get_object(kind, container, key)
    except HrFlowNotFoundError as exc:
        if f"object: {kind.name}" in str(exc).lower():  # the object; "object: source" is a configuration error
            return "deleted"
        raise
    return "archived" if obj.get("archived_at") else "present"


def guard(kind: ObjectKind, gone: Gone, ledger: Ledger, ledger_key: str) -> None:
    """
    Stop a run whose removals are over the guard: the first such run fails (one alert); later ones, while it
    lasts, log why and do nothing; a run under the guard clears it, so a later flood alerts again.
    """
    scope = f"stopped-removals:{kind.plural}"
    if gone["stopped"] is None or "listing glitch" in gone["stopped"]:
        ledger.watermarks.forget(ledger_key, scope)
        return
    if ledger.watermarks.get(ledger_key, scope) is None:
        ledger.watermarks.set(ledger_key, scope, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        raise AirflowFailException(gone["stopped"])
    log.warning("%s (alerted already; this run removes nothing and pages nobody)", gone["stopped"])


def remove_gone(kind: ObjectKind, destination: Any, gone: Gone, mode: str, ledger: Ledger) -> dict[str, Any]:
    """Apply ``mode`` to what ``gone`` holds; return keys and counts (removed, kept, unsupported, failed)."""
    targets = [*gone["archived"], *gone["deleted"]]
    result: dict[str, Any] = {
        "mode": mode,
        "archived": len(gone["archived"]),
        "deleted": len(gone["deleted"]),
        "removed": [],
        "kept": [],
        "unsupported": [],
        "not_ours": [],
        "failed": [],
        "stopped": gone["stopped"],
    }
    if not targets:
        return result
    if mode == "keep" or gone["stopped"]:
        result["kept"] = [key for key, _, _ in targets]
        log.warning(
            "%s %s synced to the ATS were archived or deleted in HrFlow and stay in the ATS ([hrflow] on_archive "
            "= keep, or stopped): %s",
            len(targets),
            kind.plural,
            ", ".join(result["kept"]),
        )
        return result
    items = [[key, container] for key, container, _ in targets]
    removed = destination.remove(
        plural=kind.plural, items=items, remote_ids={k: r for k, _, r in targets if r}, mode=mode, ledger=ledger
    )
    result.update(
        removed=[[k, how] for k, _, how in removed["removed"]],
        unsupported=removed["unsupported"],
        not_ours=removed.get("not_ours", []),
        failed=removed["failed"],
    )
    if result["not_ours"]:
        log.warning(
            "%s %s left in place, not ours: the ATS already held them and the sync only linked to them: %s",
            len(result["not_ours"]),
            kind.plural,
            ", ".join(f["key"] for f in result["not_ours"]),
        )
    if removed["unsupported"]:
        log.warning(
            "%s: %s: kept %s",
            destination.name,
            removed["unsupported"][0]["reason"],
            ", ".join(f["key"] for f in removed["unsupported"]),
        )
    log.info("Removed %s %s from the ATS (%s)", len(result["removed"]), kind.plural, mode)
    return result
