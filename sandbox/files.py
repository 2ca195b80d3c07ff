"""
HrFlow's file storage in the sandbox: the CVs a profile's ``attachments`` point to (``public_url``), served at
``GET /files/<profile key>/<type>-v<version>.pdf``.

Each file is a small PDF holding :data:`MARKER` and its profile's key, so a test can look for the bytes anywhere
they must not be (the Airflow home, the temp directory, the logs). A test may make a profile's file large
(``cv_sizes``), unreachable (``cv_missing``: 404) or replaced (:meth:`CvFiles.replace`: a new version, a new
``alt`` and ``updated_at``, as HrFlow gives a re-uploaded file; https://developers.hrflow.ai/reference "Get a
Profile": ``attachments[]`` with ``type``, ``alt``, ``public_url``, ``file_size``, ``updated_at``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import Any

MARKER = b"HRFLOW-CV-MARKER-"
DEFAULT_SIZE = 3_000
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens there: a profile made without a sandbox never reaches out
CV_TYPES = ("original", "resume")


def cv_bytes(key: str, kind: str, version: int, size: int = DEFAULT_SIZE) -> bytes:
    """Return the file ``kind`` (original, resume) of profile ``key`` at ``version``: a PDF of ``size`` bytes."""
    head = b"%PDF-1.4\n% " + MARKER + f"{key}-{kind}-v{version}\n".encode()
    tail = b"\n%%EOF\n"
    return head + b"0" * max(0, size - len(head) - len(tail)) + tail


def alt_of(key: str, kind: str, version: int) -> str:
    """Return the file's ``alt``: its content hash, as HrFlow gives it (sha1 of the default-size file)."""
    return hashlib.sha1(cv_bytes(key, kind, version)).hexdigest()


def attachments(
    key: str, files_url: str | None, *, version: int = 1, updated_at: str, size: int = DEFAULT_SIZE
) -> list[dict[str, Any]]:
    """Return a profile's ``attachments``: its original file and HrFlow's resume, on the sandbox's storage."""
    base = files_url or UNREACHABLE
    return [
        {
            "type": kind,
            "alt": alt_of(key, kind, version),
            "file_size": size,
            "file_name": kind,
            "original_file_name": f"cv-{kind}",
            "extension": ".pdf",
            "public_url": f"{base}/files/{key}/{kind}-v{version}.pdf",
            "updated_at": updated_at,
            "created_at": updated_at,
        }
        for kind in CV_TYPES
    ]


class CvFiles:
    """What the file storage serves, and what tests change about it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sizes: dict[str, int] = {}  # profile key -> its files' size in bytes
        self.missing: set[str] = set()  # profile keys whose files answer 404
        self.fetches: Counter = Counter()  # profile key -> GETs of its files

    def serve(self, handler: Any, path: str) -> None:
        """Answer ``GET /files/<key>/<type>-v<version>.pdf`` with the file, streamed in pieces."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or "-v" not in parts[2]:
            return handler._send(404, {"message": "no such file"})
        key, name = parts[1], parts[2].removesuffix(".pdf")
        kind, _, version = name.rpartition("-v")
        with self.lock:
            self.fetches[key] += 1
            missing, size = key in self.missing, self.sizes.get(key, DEFAULT_SIZE)
        if missing or kind not in CV_TYPES or not version.isdigit():
            return handler._send(404, {"message": "no such file"})
        data = cv_bytes(key, kind, int(version), size)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for i in range(0, len(data), 1 << 20):
            handler.wfile.write(data[i : i + (1 << 20)])
        return None
