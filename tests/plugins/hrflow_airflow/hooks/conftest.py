"""A recording upload receiver: a real local HTTP server that reads each upload as it arrives, chunk by chunk."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PIECE = 64 * 1024  # what the receiver reads at most at once


@dataclass
class Upload:
    """One POST as the receiver saw it: its headers, when its bytes came, their count and digest."""

    content_type: str
    chunked: bool
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (time.monotonic(), bytes so far)
    size: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    body: bytearray | None = None  # the bytes, only when the receiver keeps them
    complete: bool = False

    def add(self, data: bytes) -> None:
        """Count ``data``, just received."""
        self.size += len(data)
        self.sha256.update(data)
        self.arrivals.append((time.monotonic(), self.size))
        if self.body is not None:
            self.body += data

    def had(self, size: int) -> float:
        """Return when the receiver had ``size`` bytes of the body (infinity: it never had them)."""
        return next((at for at, total in self.arrivals if total >= size), float("inf"))


class Receiver(ThreadingHTTPServer):
    """Record every POST's body (digested, kept only when ``keep``) and how many uploads were in flight at most."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.keep = False
        self.changed = threading.Condition()
        self.uploads: list[Upload] = []
        self.active = self.most = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/upload"

    def begin(self, upload: Upload) -> None:
        with self.changed:
            self.active += 1
            self.most = max(self.most, self.active)

    def end(self, upload: Upload) -> None:
        with self.changed:
            self.active -= 1
            self.uploads.append(upload)
            self.changed.notify_all()

    def wait(self, count: int, timeout: float = 30.0) -> list[Upload]:
        """Return the uploads once ``count`` of them ended (in the order they ended)."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.uploads) >= count, timeout), "the uploads did not end"
            return list(self.uploads)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the receiver quiet
        pass

    def do_POST(self) -> None:  # noqa: N802
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        upload = Upload(self.headers.get("Content-Type") or "", chunked)
        upload.body = bytearray() if self.server.keep else None
        self.server.begin(upload)
        try:
            upload.complete = self.read_chunked(upload) if chunked else self.read_sized(upload)
        finally:
            self.server.end(upload)
        if not upload.complete:
            self.close_connection = True
            return
        answer = json.dumps({"id": f"file-{len(self.server.uploads)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def read_chunked(self, upload: Upload) -> bool:
        """Read a chunked body as it comes; return False when the sender hung up before its last chunk."""
        while True:
            line = self.rfile.readline().split(b";")[0].strip()
            if not line:
                return False
            size = int(line, 16)
            if size == 0:
                self.rfile.readline()
                return True
            while size:
                data = self.rfile.read(min(size, PIECE))
                if not data:
                    return False
                upload.add(data)
                size -= len(data)
            self.rfile.readline()

    def read_sized(self, upload: Upload) -> bool:
        """Read a body of ``Content-Length`` bytes as it comes; return False when it fell short."""
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            data = self.rfile.read(min(left, PIECE))
            if not data:
                return False
            upload.add(data)
            left -= len(data)
        return True


@pytest.fixture
def receiver():
    """A receiver of uploads on a free local port, shut when the test ends."""
    server = Receiver()
    threading.Thread(target=server.serve_forever, name="receiver", daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
