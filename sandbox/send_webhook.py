"""Send a signed HrFlow webhook delivery, as HrFlow does: ``python -m sandbox.send_webhook --profile-key K``.

A real delivery (https://developers.hrflow.ai/docs/connectors-webhook) is a JSON **array** of events, each
``{type, origin, message, profile}`` with the **whole** profile object, posted as the body and signed in the
``HTTP-HRFLOW-SIGNATURE`` header (``<signature>.<payload>``, base64url). ``--signature raw`` signs with the raw
HMAC digest (the PHP SDK's form) instead of the hex one (the Python SDK's). The profile is read from the
sandbox at ``--sandbox-url`` when it is there, else a minimal object with the two keys is sent.
Signs with the sandbox webhook secret unless ``--secret`` is given. Prints the endpoint's answer.
"""

from __future__ import annotations

import argparse
import json
import sys

import requests

from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from sandbox.__main__ import DEMO_SOURCE
from sandbox.objects import API_SECRET, API_USER, WEBHOOK_SECRET, make_key


def _profile(sandbox_url: str | None, source_key: str, profile_key: str) -> dict:
    if sandbox_url:
        try:
            answer = requests.get(
                f"{sandbox_url}/v1/profile/indexing",
                params={"source_key": source_key, "key": profile_key},
                headers={"X-API-KEY": API_SECRET, "X-USER-EMAIL": API_USER},
                timeout=5,
            ).json()
            if answer.get("code") == 200:
                return answer["data"]
        except (requests.RequestException, ValueError):
            pass
    return {"key": profile_key, "source_key": source_key, "source": {"key": source_key}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8080/hrflow/webhook")
    parser.add_argument(
        "--sandbox-url",
        default="http://127.0.0.1:8765",
        help="where to read the whole profile from (python -m sandbox)",
    )
    parser.add_argument("--profile-key", default=make_key("profile", DEMO_SOURCE, 0), help="default: demo profile 0")
    parser.add_argument("--source-key", default=DEMO_SOURCE)
    parser.add_argument(
        "--type",
        action="append",
        dest="types",
        help="event type, repeatable (default: profile.parsing.success and profile.storing.success)",
    )
    parser.add_argument("--signature", choices=("hex", "raw"), default="hex")
    parser.add_argument("--secret", default=WEBHOOK_SECRET)
    args = parser.parse_args(argv)
    profile = _profile(args.sandbox_url, args.source_key, args.profile_key)
    events = [
        {"type": t, "origin": "api", "message": "Profile created", "profile": profile}
        for t in args.types or ("profile.parsing.success", "profile.storing.success")
    ]
    body = json.dumps(events).encode()
    response = requests.post(
        args.url,
        data=body,
        timeout=30,
        headers={
            SIGNATURE_HEADER: sign(args.secret, body, raw=args.signature == "raw"),
            "Content-Type": "application/json",
        },
    )
    print(response.status_code, response.text)
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
