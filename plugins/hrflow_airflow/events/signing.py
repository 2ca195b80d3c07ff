"""
HrFlow's webhook signature: ``HTTP-HRFLOW-SIGNATURE: <signature>.<payload>``, both base64url.

The signature is the HMAC-SHA256 of the payload with the webhook secret ("Create, Configure a Webhook",
https://developers.hrflow.ai/docs/connectors-webhook). The one place that signs and verifies: the webhook app
verifies with it, the sandbox's senders (``sandbox/send_webhook.py``, ``sandbox/webhooks.py``,
``sandbox/realtime.py``) sign with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from hrflow_airflow.errors import HrFlowAirflowError

SIGNATURE_HEADER = "HTTP-HRFLOW-SIGNATURE"


class SignatureError(HrFlowAirflowError, ValueError):
    """Raise when the signature header is missing, malformed or does not match the payload."""


class PayloadError(HrFlowAirflowError, ValueError):
    """Raise when a correctly signed payload cannot be used (answered 422, naming why)."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Return the bytes of base64url ``text`` (padding optional), or raise SignatureError."""
    try:
        standard = text.translate(str.maketrans("-_", "+/"))
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature header is not base64url") from None


def sign(secret: str, payload: bytes, *, raw: bool = False) -> str:
    """
    Return the ``HTTP-HRFLOW-SIGNATURE`` value HrFlow sends for ``payload``: ``<signature>.<payload>``, base64url.

    The signature is the HMAC-SHA256 of the payload with the webhook secret. HrFlow's official SDKs disagree
    on its form: the Python SDK (``hrflow.webhook``) compares the **hex** digest, the PHP SDK the **raw**
    32-byte digest (``raw=True``). Both are accepted by :func:`verify`.
    """
    mac = hmac.new(secret.encode(), payload, hashlib.sha256)
    digest = mac.digest() if raw else mac.hexdigest().encode("ascii")
    return f"{b64url_encode(digest)}.{b64url_encode(payload)}"


def verify(header: str | None, secret: str | Sequence[str]) -> Any:
    """
    Return the signed event (or list of events), or raise SignatureError saying why it is refused.

    ``secret`` may be several secrets (the current one and, during a rotation, the next): any one signs.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = header.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise SignatureError(f"{SIGNATURE_HEADER} must be '<signature>.<payload>'")
    signature, payload = b64url_decode(parts[0]), b64url_decode(parts[1])
    if not any(signed_by(one, payload, signature) for one in ([secret] if isinstance(secret, str) else secret)):
        raise SignatureError("signature does not match the payload")
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureError("signed payload is not JSON") from None
    except RecursionError:  # signed, but nested past what the parser takes: bad input, not a server error
        raise PayloadError("signed payload is nested too deeply") from None


def signed_by(secret: str, payload: bytes, signature: bytes) -> bool:
    """Tell whether ``signature`` is ``secret``'s HMAC of ``payload``, in either SDK's form (constant time)."""
    mac = hmac.new(secret.encode(), payload, hashlib.sha256)
    hex_ok = hmac.compare_digest(mac.hexdigest().encode("ascii"), signature)  # Python SDK form
    raw_ok = hmac.compare_digest(mac.digest(), signature)  # PHP SDK form
    return hex_ok or raw_ok
