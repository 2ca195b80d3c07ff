"""
The engine's CV call (``Completion.cv_call``) with real files and a real receiver: the cap ``[hrflow] max_cv_mb`` as
set in the environment, one CV in flight at a time (:data:`ONE_AT_A_TIME`), and the check of a CV the ATS fetches
itself (route "url") when its source states no length.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from hrflow_airflow.destinations.completion import Completion, screen_cv
from hrflow_airflow.hooks.files import CvError, CvStream, MultipartBody

CAP = "AIRFLOW__HRFLOW__MAX_CV_MB"
RESUME = "resume"  # the record's CV field (hrflow_airflow.candidate.RESUME)


class Api:
    """What ``cv_call`` uses of a destination: an upload route to the receiver, or a URL route that records asks."""

    name = "stub"
    timeout = 30.0

    def __init__(self, receiver_url: str, route: str = "upload") -> None:
        self.receiver_url, self.cv_route, self.asked = receiver_url, route, []

    def cv_send(self, remote_id: str, resume: dict[str, Any], name: str, stream: CvStream) -> Any:
        body = MultipartBody({"candidate": remote_id}, "file", name, "application/pdf", stream)
        headers = {"Content-Type": body.content_type}
        return requests.post(self.receiver_url, data=body, headers=headers, timeout=60).json()

    def cv_request(self, remote_id: str, resume: dict[str, Any], name: str) -> tuple[str, str, dict[str, Any]]:
        return "POST", f"/candidates/{remote_id}/files", {"url": resume["url"]}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.asked.append((method, path))
        response = requests.Response()
        response._content = b""
        return response


def engine(api: Api) -> Completion:
    """Return the engine's CV sender over ``api`` (no ledger: ``cv_call`` records nothing)."""
    return Completion(api, None, "stub")  # type: ignore[arg-type]


def resume(sandbox, key: str) -> dict[str, Any]:
    return {"url": f"{sandbox.url}/files/{key}/original-v1.pdf"}


def test_a_lowered_cap_refuses_2_mb_and_a_raised_one_lets_15_mb_through(sandbox, receiver, monkeypatch):
    files = sandbox.state.cv_files
    files.sizes["k0"], files.sizes["k1"] = 2_000_000, 15_000_000
    monkeypatch.setenv(CAP, "1")

    with pytest.raises(CvError) as refused:
        engine(Api(receiver.url)).cv_call("k0", "c0", resume(sandbox, "k0"), "cv.pdf")
    assert refused.value.reason == "the file is 2.0 MB, over the cap of 1 MB ([hrflow] max_cv_mb)"
    assert "k0" not in str(refused.value) and not receiver.uploads  # nothing reached the ATS

    monkeypatch.setenv(CAP, "20")
    answer = engine(Api(receiver.url)).cv_call("k1", "c1", resume(sandbox, "k1"), "cv.pdf")
    [upload] = receiver.wait(1)
    assert answer == {"id": "file-1"} and upload.complete and 15_000_000 < upload.size < 15_001_000


def uploads_at_once(sandbox, upload) -> None:
    """Run ``upload(key)`` for two slow files in two threads started together."""
    files, start = sandbox.state.cv_files, threading.Barrier(2)
    files.piece = 64 * 1024
    for key in ("k0", "k1"):
        files.sizes[key], files.pause[key] = 8 * 64 * 1024, 0.05

    def run(key: str) -> None:
        start.wait()
        upload(key)

    threads = [threading.Thread(target=run, args=(key,)) for key in ("k0", "k1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def test_two_cvs_sent_at_once_never_overlap(sandbox, receiver):
    def bare(key: str) -> None:  # no lock: the receiver sees both uploads in flight together
        stream = CvStream(resume(sandbox, key)["url"], max_bytes=10_000_000)
        requests.post(receiver.url, data=stream, timeout=60).raise_for_status()

    uploads_at_once(sandbox, bare)
    assert len(receiver.wait(2)) == 2 and receiver.most == 2

    receiver.uploads, receiver.most = [], 0
    answers: list[Any] = []
    uploads_at_once(
        sandbox, lambda key: answers.append(engine(Api(receiver.url)).cv_call(key, key, resume(sandbox, key), "cv.pdf"))
    )

    uploads = receiver.wait(2)
    assert len(answers) == 2 and all(upload.complete for upload in uploads)
    assert receiver.most == 1  # the engine sent one CV at a time


@pytest.mark.parametrize("source", ["no Content-Length (chunked)", "a false Content-Length of 0.5 MB"])
def test_a_url_route_cv_over_the_cap_is_caught_when_its_source_does_not_state_its_size(sandbox, monkeypatch, source):
    files = sandbox.state.cv_files
    files.sizes["k0"] = 2_000_000
    if source.startswith("no"):
        files.unsized.add("k0")
    else:
        files.stated["k0"] = 500_000
    monkeypatch.setenv(CAP, "1")
    reason = "the file is more than 1 MB, over the cap of 1 MB ([hrflow] max_cv_mb)"

    record, why = screen_cv({"name": "x", RESUME: resume(sandbox, "k0")})
    assert record == {"name": "x"} and why == reason

    api = Api("http://127.0.0.1:9", route="url")
    with pytest.raises(CvError) as refused:
        engine(api).cv_call("k0", "c0", resume(sandbox, "k0"), "cv.pdf")
    assert refused.value.reason == reason and not api.asked  # the ATS was never asked to fetch it


def test_a_url_route_cv_within_the_cap_passes_without_a_stated_size(sandbox, monkeypatch):
    files = sandbox.state.cv_files
    files.sizes["k0"] = 900_000
    files.unsized.add("k0")
    monkeypatch.setenv(CAP, "1")

    record = {"name": "x", RESUME: resume(sandbox, "k0")}
    assert screen_cv(record) == (record, None)

    api = Api("http://127.0.0.1:9", route="url")
    assert engine(api).cv_call("k0", "c0", resume(sandbox, "k0"), "cv.pdf") is None
    assert api.asked == [("POST", "/candidates/c0/files")]
