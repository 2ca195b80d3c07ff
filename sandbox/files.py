"""
HrFlow's file storage in the sandbox: the CVs a profile's ``attachments`` point to (``public_url``), served at
``GET /files/<profile key>/<type>-v<version>.pdf``.

Each file is a small PDF holding :data:`MARKER` and its profile's key, so a test can look for the bytes anywhere
they must not be (the Airflow home, the temp directory, the logs). A file is made and written piece by piece, never
whole, so a large one costs the server no memory. A test may make a profile's file large (``cv_sizes``), unreachable
(``cv_missing``: 404), sent without a length or with a false one (``unsized``, ``stated``), slow (``pause``) or
replaced (:meth:`CvFiles.replace`: a new version, a new
``alt`` and ``updated_at``, as HrFlow gives a re-uploaded file; https://developers.hrflow.ai/reference "Get a
Profile": ``attachments[]`` with ``type``, ``alt``, ``public_url``, ``file_size``, ``updated_at``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

MARKER = b"HRFLOW-CV-MARKER-"
DEFAULT_SIZE = 3_000
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens there: a profile made without a sandbox never reaches out
CV_TYPES = ("original", "resume")
TAIL = b"\n%%EOF\n"


def cv_bytes(key: str, kind: str, version: int, size: int = DEFAULT_SIZE) -> bytes:
    """Return the file ``kind`` (original, resume) of profile ``key`` at ``version``: a PDF of ``size`` bytes."""
    return b"".join(cv_pieces(key, kind, version, size))


def cv_pieces(key: str, kind: str, version: int, size: int = DEFAULT_SIZE, piece: int = 1 << 20) -> Iterator[bytes]:
    """Yield the bytes of :func:`cv_bytes` in pieces of at most ``piece`` bytes, made one at a time."""
    head = cv_head(key, kind, version)
    filler = max(0, size - len(head) - len(TAIL))
    yield head
    for start in range(0, filler, piece):
        yield b"0" * min(piece, filler - start)
    yield TAIL


def cv_head(key: str, kind: str, version: int) -> bytes:
    """Return the first bytes of a file: the PDF header and a comment holding :data:`MARKER` and the file's name."""
    return b"%PDF-1.4\n% " + MARKER + f"{key}-{kind}-v{version}\n".encode()


def cv_length(key: str, kind: str, version: int, size: int = DEFAULT_SIZE) -> int:
    """Return the length of :func:`cv_bytes` (``size``, or its head and tail when larger)."""
    return max(size, len(cv_head(key, kind, version)) + len(TAIL))


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
        # how the bytes go, per profile key: a source that states no length sends its file chunked (``unsized``);
        # a lying one states a false ``Content-Length`` and sends the whole file chunked all the same (``stated``);
        # a slow one waits ``pause`` seconds between pieces of ``piece`` bytes
        self.unsized: set[str] = set()
        self.stated: dict[str, int] = {}
        self.pause: dict[str, float] = {}
        self.piece = 1 << 20
        self.last_piece_at: dict[str, float] = {}  # profile key -> time.monotonic() its file's last piece went at

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
            stated, pause = self.stated.get(key), self.pause.get(key)
            chunked = key in self.unsized or stated is not None
        if missing or kind not in CV_TYPES or not version.isdigit():
            return handler._send(404, {"message": "no such file"})
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        if not chunked or stated is not None:
            length = cv_length(key, kind, int(version), size) if stated is None else stated
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        for number, piece in enumerate(cv_pieces(key, kind, int(version), size, self.piece)):
            if pause and number:
                time.sleep(pause)
            with self.lock:
                self.last_piece_at[key] = time.monotonic()
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")
        return None
