"""
The screen of CVs an ATS fetches itself (:class:`CvScreen`), against the sandbox's file storage: each URL's reason
(fetchable, within the cap, stated size or counted), each URL fetched once, kept-alive connections, a proxy from
the environment and redirects handled as requests handles them, and a malformed URL isolated alone.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hrflow_airflow.hooks.cv_screen import CvScreen

MB = 1_000_000


def url(sandbox, key: str) -> str:
    return f"{sandbox.url}/files/{key}/original-v1.pdf"


def test_each_cv_gets_its_reason_and_each_url_is_fetched_once(sandbox):
    files = sandbox.state.cv_files
    files.missing.add("gone")
    files.sizes["big"] = files.sizes["big-unsized"] = 2 * MB
    files.sizes["ok-unsized"] = MB // 2
    files.unsized.update({"big-unsized", "ok-unsized"})
    urls = {key: url(sandbox, key) for key in ("ok", "gone", "big", "big-unsized", "ok-unsized")}
    nowhere = "http://127.0.0.1:9/files/x/original-v1.pdf"

    reasons = CvScreen(max_bytes=MB, timeout=5).reasons([*urls.values(), urls["ok"], nowhere])

    assert reasons == {
        urls["ok"]: None,
        urls["gone"]: "its URL answered HTTP 404",
        urls["big"]: "the file is 2.0 MB, over the cap of 1 MB ([hrflow] max_cv_mb)",
        urls["big-unsized"]: "the file is more than 1 MB, over the cap of 1 MB ([hrflow] max_cv_mb)",
        urls["ok-unsized"]: None,
        nowhere: "its URL could not be fetched (ConnectionError)",  # as requests names it
    }
    assert {key: files.fetches[key] for key in urls} == dict.fromkeys(urls, 1)  # "ok" was asked twice


def test_short_files_keep_their_connections(sandbox):
    screen = CvScreen(max_bytes=MB, timeout=5, workers=4)
    urls = [url(sandbox, f"k{i}") for i in range(40)]

    assert set(screen.reasons(urls).values()) == {None}
    assert screen.pool.connection_from_url(urls[0]).num_connections <= 4  # not one connection per file


def test_a_proxy_in_the_environment_is_used_as_requests_would(sandbox, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy that does not answer

    why = CvScreen(max_bytes=MB, timeout=5).reason(url(sandbox, "k0"))

    assert why == "its URL could not be fetched (ProxyError)"
    assert sandbox.state.cv_files.fetches["k0"] == 0  # never reached directly


@pytest.mark.parametrize("workers", [1, 8])
def test_the_answer_does_not_depend_on_how_many_check_at_once(sandbox, workers):
    files = sandbox.state.cv_files
    files.missing.update({"k1", "k5"})
    urls = [url(sandbox, f"k{i}") for i in range(8)]

    reasons = CvScreen(max_bytes=MB, timeout=5, workers=workers).reasons(urls)

    assert [key for key, u in zip(range(8), urls) if reasons[u]] == [1, 5]


def test_a_malformed_or_schemeless_url_is_isolated_alone(sandbox):
    good = url(sandbox, "k0")
    bad = {
        "http://[::1/files/k1/original-v1.pdf": "its URL could not be fetched (InvalidURL)",
        "http://127.0.0.1:port/files/k1/original-v1.pdf": "its URL could not be fetched (InvalidURL)",
        "127.0.0.1/files/k1/original-v1.pdf": "its URL could not be fetched (MissingSchema)",
    }

    reasons = CvScreen(max_bytes=MB, timeout=5).reasons([good, *bad])

    assert reasons == {good: None, **bad}


def test_a_redirect_is_followed_and_a_file_read_in_part_leaves_the_pool_usable(sandbox):
    files = sandbox.state.cv_files
    files.sizes["mid"] = 500_000  # stated, over the size drained: its connection is closed, not reused
    target = url(sandbox, "k0")

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    moved = f"http://127.0.0.1:{server.server_port}/cv.pdf"
    try:
        urls = [url(sandbox, "mid"), moved, *(url(sandbox, f"k{i}") for i in range(1, 6)), url(sandbox, "mid")]
        reasons = CvScreen(max_bytes=MB, timeout=5, workers=1).reasons(urls)
    finally:
        server.shutdown()

    assert set(reasons.values()) == {None}
    assert files.fetches["k0"] == 1 and files.fetches["mid"] == 1  # the redirect's target was fetched
