"""
Check the alert channels' setup without sending anything. Run where the callbacks run (the dag-processor, the
scheduler), with the same connections and ``[hrflow]`` settings::

    python -m hrflow_airflow.alerts.check

It prints each channel of ``[hrflow] alert_channels`` with the connection it sends through, or what is wrong with
it (an unknown channel, a missing connection, an e-mail connection without ``to`` or ``from_email``, no on-call
number), and exits 1 when anything is. An empty ``[hrflow] alert_channels`` (alerts only logged) is said, not an error.
"""

from __future__ import annotations

import argparse
import sys

from hrflow_airflow.alerts.channels import (
    ALERT_CONN_ID,
    ALERT_PHONE_VARIABLE,
    CONNECTIONS,
    EMAIL,
    SMS,
    alert_target,
    channel_connection,
    channel_names,
    channel_sender,
    email_extra,
)
from hrflow_airflow.errors import BadConfigError


def channel_status(channel: str) -> tuple[bool, str]:
    """Return ``(ready, what)`` for ``channel``: the connection it sends through, or what is wrong with it."""
    try:
        channel_sender(channel)
        if channel == SMS:
            target = alert_target()
            if target is None:
                return (
                    False,
                    f"no alert target is set (connection '{ALERT_CONN_ID}' or Variable '{ALERT_PHONE_VARIABLE}')",
                )
            return True, f"connection '{target[0]}'"
        if channel == EMAIL:
            email_extra()
        else:
            channel_connection(channel)
    except BadConfigError as exc:
        return False, str(exc)
    return True, f"connection '{CONNECTIONS[channel][0]}'"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m hrflow_airflow.alerts.check", description=__doc__.split("\n\n")[0]
    ).parse_args(argv)
    names = channel_names()
    if not names:
        print("[hrflow] alert_channels is empty: alerts are only logged", file=sys.stderr)
        return 0
    ready = True
    for name in names:
        ok, what = channel_status(name)
        ready = ready and ok
        print(f"{name}\t{'ready' if ok else 'NOT READY'}\t{what}")
    return 0 if ready else 1


if __name__ == "__main__":
    raise SystemExit(main())
