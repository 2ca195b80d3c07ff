"""
A candidate's CV on its way from HrFlow's ``public_url`` to an ATS that wants the bytes: streamed, never whole.

:class:`CvStream` is the file's bytes, fetched from its URL each time it is iterated (a request the transport
retries after a 429 reads it again from the start), checked against the cap ``[hrflow] max_cv_mb`` before anything
is sent (by its ``Content-Length``, or by counting its bytes when the source states none), and counted while it
flows. :class:`MultipartBody` wraps it in a ``multipart/form-data`` body made as it is read, so ``requests`` sends
it chunked: neither the file nor the body is ever held in memory whole, written to disk, logged or returned. At
most one CV is in flight per task (:data:`ONE_AT_A_TIME`), so memory stays bounded whatever the files' sizes.
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
        length = stated_length(response.headers)
        if length is not None and length > self.max_bytes:
            response.close()
            raise CvError(too_large(length, self.max_bytes))
        return response

    def check(self) -> None:
        """
        Raise CvError now if the file cannot be fetched or is over the cap. Nothing is read when the source states
        the file's length; when it states none (a chunked body), the bytes are counted up to one past the cap and
        dropped, so a file the ATS will fetch itself (route "url") is checked all the same.
        """
        with self.open() as response:
            if stated_length(response.headers) is None:
                seen = 0
                for chunk in response.iter_content(CHUNK):
                    seen += len(chunk)
                    if seen > self.max_bytes:
                        raise CvError(too_large(seen, self.max_bytes, known=False))

    def __iter__(self) -> Iterator[bytes]:
        self.sent = 0
        with self.open() as response:
            for chunk in response.iter_content(CHUNK):
                self.sent += len(chunk)
                if self.sent > self.max_bytes:
                    raise CvError(too_large(self.sent, self.max_bytes, known=False))
                yield chunk


def stated_length(headers: Mapping[str, str]) -> int | None:
    """Return the body's length as its (case-insensitive) ``headers`` state it; None: none, or a chunked body."""
    length = headers.get("Content-Length") or ""
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()  # a stated length is void then
    return int(length) if length.isdigit() and not chunked else None


def too_large(size: int, max_bytes: int, *, known: bool = True) -> str:
    """Return the reason for a file of ``size`` bytes; not ``known``: only that it passed the cap while flowing."""
    said = f"{size / 1e6:.1f} MB" if known else f"more than {max_bytes / 1e6:g} MB"
    return f"the file is {said}, over the cap of {max_bytes / 1e6:g} MB ([hrflow] max_cv_mb)"


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
