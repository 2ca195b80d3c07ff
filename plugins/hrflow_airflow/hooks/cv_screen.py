"""
The check a CV passes before its URL goes to an ATS that fetches the file itself (the JSON endpoint, Workable,
Teamtailor...): the URL answers, and the file is within ``[hrflow] max_cv_mb``. A batch's CVs are checked
together: a few at once on one pool of kept-alive connections, each a GET whose body is not read when the source
states its length (a short one is drained so its connection serves the next check), and counted then dropped, one
CV at a time per task (:data:`~hrflow_airflow.hooks.files.ONE_AT_A_TIME`), when it states none. Nothing is kept.

A GET through ``requests`` costs about 1 ms of CPU here (its session, proxy lookup in the environment, a new
connection for each unread stream); on urllib3's own pool (a supported API of requests' transport) a check costs a
third of that. A URL that ``requests`` would send through a proxy (``HTTP(S)_PROXY``) takes the ``requests`` path.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from urllib.parse import urlsplit

import certifi
import requests
import urllib3

from hrflow_airflow.hooks.files import CHUNK, ONE_AT_A_TIME, CvError, CvStream, stated_length, too_large

DRAIN_BELOW = 64 * 1024  # a body this short is read and dropped so the connection is kept
# no retries (a later run tries an isolated CV again), redirects followed as requests follows them
FOLLOW_REDIRECTS = urllib3.Retry(total=None, connect=0, read=0, redirect=30, status=0, other=0)


class CvScreen:
    """Check CV URLs for an ATS that fetches them: fetchable and at most ``max_bytes``, ``workers`` at once."""

    def __init__(self, *, max_bytes: int, timeout: float = 30.0, workers: int = 8) -> None:
        self.max_bytes, self.timeout, self.workers = max_bytes, timeout, max(1, workers)
        self.proxied: dict[tuple[str, str], bool] = {}

    @cached_property
    def pool(self) -> urllib3.PoolManager:
        return urllib3.PoolManager(
            num_pools=8, maxsize=self.workers, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
        )

    def reasons(self, urls: Iterable[str]) -> dict[str, str | None]:
        """Return ``{url: why its CV cannot go, or None}``, each distinct URL checked once."""
        distinct = list(dict.fromkeys(urls))
        if len(distinct) <= 1:
            return {url: self.reason(url) for url in distinct}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(distinct)), thread_name_prefix="cv-check") as pool:
            return dict(zip(distinct, pool.map(self.reason, distinct)))

    def reason(self, url: str) -> str | None:
        """Return why the CV at ``url`` cannot go (it names no one), or None."""
        try:
            self.check(url)
        except CvError as exc:
            return exc.reason
        return None

    def check(self, url: str) -> None:
        """Raise CvError if the CV at ``url`` cannot be fetched or is over the cap."""
        if self.through_proxy(url):
            CvStream(url, max_bytes=self.max_bytes, timeout=self.timeout).check()
            return
        try:
            response = self.pool.request(
                "GET", url, preload_content=False, timeout=self.timeout, retries=FOLLOW_REDIRECTS
            )
        except urllib3.exceptions.MaxRetryError as exc:
            raise CvError(f"its URL could not be fetched ({type(exc.reason or exc).__name__})") from None
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise CvError(f"its URL could not be fetched ({type(exc).__name__})") from None
        read = False  # a connection goes back to the pool only with its body read to the end
        try:
            if response.status >= 400:
                raise CvError(f"its URL answered HTTP {response.status}", response.status)
            length = stated_length(response.headers)
            if length is not None and length > self.max_bytes:
                raise CvError(too_large(length, self.max_bytes))
            if length is None:
                with ONE_AT_A_TIME:
                    self.count(response)
                read = True
            elif length <= DRAIN_BELOW:
                response.drain_conn()
                read = True
        finally:
            if not read:
                response.close()
            response.release_conn()

    def count(self, response: urllib3.BaseHTTPResponse) -> None:
        """Read a body of no stated length up to one chunk past the cap, dropping each chunk."""
        seen = 0
        try:
            for chunk in response.stream(CHUNK):
                seen += len(chunk)
                if seen > self.max_bytes:
                    raise CvError(too_large(seen, self.max_bytes, known=False))
        except urllib3.exceptions.HTTPError as exc:
            raise CvError(f"its URL could not be read ({type(exc).__name__})") from None

    def through_proxy(self, url: str) -> bool:
        """Return True when ``requests`` would reach ``url`` through a proxy from the environment."""
        parts = urlsplit(url)
        where = (parts.scheme, parts.netloc)
        if where not in self.proxied:
            self.proxied[where] = bool(requests.utils.get_environ_proxies(url))
        return self.proxied[where]
