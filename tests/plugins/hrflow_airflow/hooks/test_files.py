"""
A CV goes from its URL to the ATS streamed (:class:`CvStream`, :class:`MultipartBody`), against real local servers:
the sandbox's file storage (``sandbox/files.py``) sends it, a recording receiver (``conftest.py``) takes the upload.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from email import policy
from email.parser import BytesParser

import pytest
import requests

from hrflow_airflow.hooks.files import CHUNK, CvError, CvStream, MultipartBody
from sandbox.files import MARKER, cv_bytes, cv_pieces

PIECE = 64 * 1024


def file_url(sandbox, key: str) -> str:
    return f"{sandbox.url}/files/{key}/original-v1.pdf"


def slow_file(sandbox, key: str, pieces: int) -> int:
    """Make ``key``'s file ``pieces`` pieces of 64 KiB, sent 50 ms apart; return its size."""
    files = sandbox.state.cv_files
    files.sizes[key], files.piece, files.pause[key] = pieces * PIECE, PIECE, 0.05
    return pieces * PIECE


def post(receiver, body, content_type: str = "application/pdf") -> requests.Response:
    return requests.post(receiver.url, data=body, headers={"Content-Type": content_type}, timeout=60)


def test_a_cv_reaches_the_receiver_while_its_source_is_still_sending(sandbox, receiver):
    size = slow_file(sandbox, "k0", 20)
    stream = CvStream(file_url(sandbox, "k0"), max_bytes=10_000_000)

    post(receiver, stream).raise_for_status()

    [upload] = receiver.wait(1)
    assert upload.complete and upload.chunked and stream.sent == upload.size == size
    assert upload.sha256.digest() == hashlib.sha256(cv_bytes("k0", "original", 1, size)).digest()
    # half of the file was at the receiver before the source wrote its last piece: it went through, not in one go
    assert upload.had(size // 2) < sandbox.state.cv_files.last_piece_at["k0"]


def test_a_30_mb_cv_goes_through_without_the_process_ever_holding_it(sandbox, receiver):
    size, files = 30_000_000, sandbox.state.cv_files
    files.sizes["k0"], files.piece = size, 256 * 1024
    expected = hashlib.sha256()
    for piece in cv_pieces("k0", "original", 1, size):
        expected.update(piece)
    stream = CvStream(file_url(sandbox, "k0"), max_bytes=40_000_000)  # [hrflow] max_cv_mb raised to 40

    tracemalloc.start()
    try:
        post(receiver, stream).raise_for_status()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    [upload] = receiver.wait(1)
    assert upload.complete and upload.size == size and upload.sha256.digest() == expected.digest()
    # the source, the stream and the receiver all ran in this process: together they never held a tenth of the file
    assert peak < size / 10, f"peak {peak} bytes for a file of {size}"


def test_a_multipart_body_is_streamed_with_its_framing_and_the_file_intact(sandbox, receiver):
    size = slow_file(sandbox, "k0", 16)
    receiver.keep = True
    stream = CvStream(file_url(sandbox, "k0"), max_bytes=10_000_000)
    body = MultipartBody({"perform_as": "user-1", "note": "a CV"}, "file", 'cv "k0".pdf', "application/pdf", stream)

    post(receiver, body, body.content_type).raise_for_status()

    [upload] = receiver.wait(1)
    assert upload.complete and upload.chunked and upload.content_type == body.content_type
    assert upload.had(size // 2) < sandbox.state.cv_files.last_piece_at["k0"]  # streamed, not built whole first
    head = f"Content-Type: {upload.content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + bytes(upload.body))
    assert message.is_multipart() and not message.defects
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert list(parts) == ["perform_as", "note", "file"]
    assert parts["perform_as"].get_content() == "user-1" and parts["note"].get_content() == "a CV"
    assert parts["file"].get_filename() == "cv k0.pdf" and parts["file"].get_content_type() == "application/pdf"
    assert parts["file"].get_payload(decode=True) == cv_bytes("k0", "original", 1, size)


@pytest.mark.parametrize("source", ["no Content-Length (chunked)", "a false Content-Length of 0.5 MB"])
def test_the_cap_stops_a_transfer_mid_stream_when_the_source_does_not_state_the_true_size(sandbox, receiver, source):
    files = sandbox.state.cv_files
    files.sizes["k0"] = 3_000_000
    if source.startswith("no"):
        files.unsized.add("k0")
    else:
        files.stated["k0"] = 500_000
    stream = CvStream(file_url(sandbox, "k0"), max_bytes=1_000_000)  # [hrflow] max_cv_mb = 1

    with pytest.raises(CvError) as refused:
        post(receiver, stream)

    [upload] = receiver.wait(1)
    assert not upload.complete and upload.size <= 1_000_000 < stream.sent <= 1_000_000 + CHUNK
    reason = refused.value.reason
    assert reason == "the file is more than 1 MB, over the cap of 1 MB ([hrflow] max_cv_mb)"
    assert "k0" not in str(refused.value) and MARKER.decode() not in str(refused.value)
