"""
List or release the objects the sync ledger holds in quarantine (refused ``[hrflow] max_refusals`` times with
the same record). Run where the tasks run, with the same ``hrflow_ledger`` connection::

    python -m hrflow_airflow.ledger.quarantine list [--destination ats_default]
    python -m hrflow_airflow.ledger.quarantine release [--destination ats_default] [KEY ...]   # no KEY: all of them

A released object is sent again by the next run (and counts its refusals from zero). Param
``retry_quarantined`` of the sync DAGs does the same for one run without changing the ledger.
"""

from __future__ import annotations

import argparse
import sys

from hrflow_airflow.ledger import Ledger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hrflow_airflow.ledger.quarantine", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["list", "release"])
    parser.add_argument("keys", nargs="*", help="object keys to release (default: every quarantined object)")
    parser.add_argument("--destination", help="ledger key of one destination, e.g. ats_default")
    args = parser.parse_args(argv)
    ledger = Ledger()
    if args.command == "list":
        rows = ledger.refusals.quarantined(args.destination)
        for destination, key, entry in rows:
            print(f"{destination}\t{entry.container}\t{key}\t{entry.refusals} refusals\t{entry.reason}")
        print(f"{len(rows)} quarantined object(s)", file=sys.stderr)
        return 0
    released = ledger.refusals.release(args.destination, args.keys or None)
    print(f"released {released} object(s): the next run sends them again", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
