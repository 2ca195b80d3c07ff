"""
A ``multipart/form-data`` body as the vendor emulators read an upload (RFC 7578): its text fields and its files,
parsed with the standard library's email parser (the body arrives whole: the server de-chunks a streamed one).
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import NamedTuple


class Upload(NamedTuple):
    """A form's text fields and its file parts (field name -> (file name, bytes))."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]


def parse(content_type: str | None, body: bytes) -> Upload | None:
    """Return the form ``body`` carries, or None when it is not a multipart/form-data body."""
    if not (content_type or "").lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        return None
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        return None
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if not name:
            continue
        if (file_name := part.get_filename()) is not None:
            files[str(name)] = (file_name, data)
        else:
            fields[str(name)] = data.decode("utf-8", "replace")
    return Upload(fields, files)
