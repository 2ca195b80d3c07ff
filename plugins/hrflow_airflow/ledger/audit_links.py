"""
Audit the ledger's links to ATS records against the rule "adopt only what we made", and unlink those that fail
it. Run where the tasks run, with the same connections::

    python -m hrflow_airflow.ledger.audit_links [--conn-id ats_default] [--apply] [KEY ...]

Each ledger row the sync would remove or erase through (``origin`` created, or recorded before 0.3) is read by id
from the ATS. It passes when the record carries the marker of its own object (``hrflow-key:<key>``), or, for a
row from before markers, what our create alone set (Lever: our source on a ``sourced`` opportunity). Earlier
versions adopted the first record a lookup by email returned after a lost answer: a person's own earlier
application, say. Those fail. ``--apply`` unlinks them: the id is dropped and the row marked ``unlinked``, so no
removal or erasure acts on that record again (the object stays synced; nothing is created). Prints keys and ids
only. A record gone from the ATS (404) is listed as gone and left as it is.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hrflow_airflow.ledger import CREATED, UNLINKED, Ledger


def audit(conn_id: str, keys: list[str] | None = None, *, apply: bool = False, ledger: Ledger | None = None) -> dict:
    """Return ``{"checked", "passed", "gone", "failed": [[key, remote id, why]], "unlinked"}`` for ``conn_id``."""
    from sqlalchemy import or_, select, update

    from hrflow_airflow.destinations import destination_for
    from hrflow_airflow.ledger.schema import ledger_table

    ledger = ledger or Ledger()
    destination = destination_for(conn_id)
    api: Any = getattr(destination, "client", None)
    if api is None or not hasattr(api, "read"):
        raise SystemExit(f"connection '{conn_id}' is a {destination.name} destination: it keeps no per-record links")
    table = ledger_table()
    query = select(table.c.object_key, table.c.remote_id, table.c.origin).where(
        table.c.destination == destination.ledger_key,
        table.c.remote_id.is_not(None),
        or_(table.c.origin == CREATED, table.c.origin.is_(None)),
    )
    if keys:
        query = query.where(table.c.object_key.in_(keys))
    with ledger.db.engine.connect() as conn:
        rows = list(conn.execute(query.order_by(table.c.object_key)))
    report: dict[str, Any] = {"checked": len(rows), "passed": 0, "gone": [], "failed": [], "unlinked": 0}
    for key, remote, origin in rows:
        found = api.read(remote)
        if found is None:
            report["gone"].append([key, remote])
        elif api.proves_ours(found, key, None) or (origin is None and api.legacy_ours(found)):
            report["passed"] += 1
        else:
            why = "carries no marker of this profile" if api.marker(key) not in api.tags_of(found) else "not ours"
            report["failed"].append([key, remote, why])
    if apply and report["failed"]:
        failed = [key for key, _, _ in report["failed"]]
        with ledger.db.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.destination == destination.ledger_key, table.c.object_key.in_(failed))
                .values(remote_id=None, origin=UNLINKED)
            )
        report["unlinked"] = len(failed)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hrflow_airflow.ledger.audit_links", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("keys", nargs="*", help="object keys to audit (default: every linked object)")
    parser.add_argument("--conn-id", default="ats_default", help="the destination connection (default ats_default)")
    parser.add_argument("--apply", action="store_true", help="unlink the ids that fail the proof")
    args = parser.parse_args(argv)
    report = audit(args.conn_id, args.keys or None, apply=args.apply)
    for key, remote in report["gone"]:
        print(f"gone\t{key}\t{remote}")
    for key, remote, why in report["failed"]:
        print(f"{'unlinked' if args.apply else 'fails'}\t{key}\t{remote}\t{why}")
    done = f", {report['unlinked']} unlinked" if args.apply else " (run with --apply to unlink them)"
    print(
        f"{report['checked']} link(s) checked: {report['passed']} proven ours, {len(report['failed'])} failing"
        f"{done}, {len(report['gone'])} gone from the ATS",
        file=sys.stderr,
    )
    return 1 if report["failed"] and not args.apply else 0


if __name__ == "__main__":
    raise SystemExit(main())
