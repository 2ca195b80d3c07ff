"""
A candidate's CV on its way from HrFlow's ``public_url`` to an ATS that wants the bytes: streamed, never whole.

:class:`CvStream` is the file's bytes, fetched from its URL each time it is iterated (a request the transport
retries after a 429 reads it again from the start), checked against the cap ``[hrflow] max_cv_mb`` by its
``Content-Length`` before anything is sent, and counted while it flows. :class:`MultipartBody` wraps it in a
``multipart/form-data`` body made as it is read, so ``requests`` sends it chunked: neither the file nor the body
is ever held in memory whole, written to disk, logged or returned. At most one CV is in flight per task
(:data:`ONE_AT_A_TIME`), so memory stays bounded whatever the files' sizes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from hrflow_airflow.errors import RefusedError

CHUNK = 64 * 1024
ONE_AT_A_TIME = threading.Lock()  # one CV streamed at a time per task process


class CvError(RefusedError):
    """Raise when a CV cannot be sent: unreachable, refused by its host, or over the cap. Its reason names no one."""

    def __init__(self, reason: str, status: int = 0) -> None:
        super().__init__(f"CV not sent: {reason}", status, reason)


class CvStream:
    """The bytes of one CV at ``url``, at most ``max_bytes``, fetched again each time it is iterated."""

    def __init__(self, url: str, *, max_bytes: int, timeout: float = 30.0, session: requests.Session | None = None):
        self.url, self.max_bytes, self.timeout = url, max_bytes, timeout
        self.session = session or requests.Session()
        self.sent = 0  # bytes of the last pass

    def open(self) -> requests.Response:
        """Return the file's streamed response, or raise CvError (unreachable, a refusal, over the cap)."""
        try:
            response = self.session.get(self.url, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CvError(f"its URL could not be fetched ({type(exc).__name__})") from None
        if not response.ok:
            response.close()
            raise CvError(f"its URL answered HTTP {response.status_code}", response.status_code)
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            response.close()
            raise CvError(self.too_large(int(length)))
        return response

    def too_large(self, size: int) -> str:
        return f"the file is {size / 1e6:.1f} MB, over the cap of {self.max_bytes / 1e6:g} MB ([hrflow] max_cv_mb)"

    def check(self) -> None:
        """Raise CvError now if the file cannot be fetched or says it is over the cap (nothing is read)."""
        self.open().close()

    def __iter__(self) -> Iterator[bytes]:
        self.sent = 0
        with self.open() as response:
            for chunk in response.iter_content(CHUNK):
                self.sent += len(chunk)
                if self.sent > self.max_bytes:
                    raise CvError(self.too_large(self.sent))
                yield chunk


class MultipartBody:
    """A ``multipart/form-data`` body of text ``fields`` and one file part, made as it is read (re-iterable)."""

    def __init__(self, fields: Mapping[str, str], file_field: str, file_name: str, content_type: str, stream: Any):
        self.fields, self.file_field, self.file_name = dict(fields), file_field, file_name
        self.file_type, self.stream = content_type, stream
        self.boundary = uuid.uuid4().hex

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        dash = f"--{self.boundary}\r\n".encode()
        for name, value in self.fields.items():
            yield dash + f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        safe_name = self.file_name.replace('"', "")
        yield (
            dash
            + (
                f'Content-Disposition: form-data; name="{self.file_field}"; filename="{safe_name}"\r\n'
                f"Content-Type: {self.file_type}\r\n\r\n"
            ).encode()
        )
        yield from self.stream
        yield f"\r\n--{self.boundary}--\r\n".encode()
