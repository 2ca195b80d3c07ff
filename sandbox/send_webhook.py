"""Send a signed HrFlow webhook, as HrFlow would: ``python -m sandbox.send_webhook --url URL --profile-key K``.

Signs with the sandbox webhook secret unless ``--secret`` is given. Prints the endpoint's answer.
"""

from __future__ import annotations

import argparse
import json
import sys

import requests

from hrflow_airflow.webhook import SIGNATURE_HEADER, sign
from sandbox.__main__ import DEMO_SOURCE
from sandbox.server import WEBHOOK_SECRET, make_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://localhost:8080/hrflow/webhook")
    parser.add_argument("--profile-key", default=make_key("profile", DEMO_SOURCE, 0), help="default: demo profile 0")
    parser.add_argument("--source-key", default=DEMO_SOURCE)
    parser.add_argument("--type", default="profile.indexing.success")
    parser.add_argument("--secret", default=WEBHOOK_SECRET)
    args = parser.parse_args(argv)
    event = {"type": args.type, "origin": "api", "message": "Profile indexed",
             "profile": {"key": args.profile_key, "source": {"key": args.source_key}}}
    response = requests.post(args.url, headers={SIGNATURE_HEADER: sign(args.secret, json.dumps(event).encode())}, timeout=10)
    print(response.status_code, response.text)
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
