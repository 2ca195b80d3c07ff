"""
The check a CV passes before its URL goes to an ATS that fetches the file itself (the JSON endpoint, Workable,
Teamtailor...): the URL answers, and the file is within ``[hrflow] max_cv_mb``. A batch's CVs are checked
together: a few at once on one pool of kept-alive connections, each a GET whose body is not read when the source
states its length (a body of at most 64 KB is read and dropped so that its connection serves the next check), and
counted then dropped, 64 KB at a time, when it states none. Nothing is kept.

A GET through ``requests`` costs about 1 ms of CPU here (a session, the proxy lookup in the environment, a new
connection for each unread stream); on urllib3's own pool (the transport under requests, a supported API) a check
costs a third of that. What urllib3 alone would treat differently from ``requests`` takes the ``requests`` path
(:meth:`CvStream.check`), with its reasons: a proxy from the environment (``HTTP(S)_PROXY``), a URL that is not
plain ``http(s)``, a redirect.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
import urllib3

from hrflow_airflow.hooks.files import CHUNK, CvError, CvStream, stated_length, too_large
from hrflow_airflow.hooks.lean import as_requests_error, environ_ca_bundle, verified_tls

DRAIN_BELOW = 64 * 1024  # a body this short is read and dropped so the connection is kept


class CvScreen:
    """Check CV URLs for an ATS that fetches them: fetchable and at most ``max_bytes``, ``workers`` at once."""

    def __init__(self, *, max_bytes: int, timeout: float = 30.0, workers: int = 8) -> None:
        self.max_bytes, self.timeout, self.workers = max_bytes, timeout, max(1, workers)
        self.timeouts = urllib3.Timeout(connect=timeout, read=timeout)
        self.direct: dict[tuple[str, str], bool] = {}
        self.pool = urllib3.PoolManager(num_pools=8, maxsize=self.workers, **verified_tls(environ_ca_bundle()))

    def reasons(self, urls: Iterable[str]) -> dict[str, str | None]:
        """Return ``{url: why its CV cannot go, or None}``, each distinct URL checked once, then close the pool."""
        distinct = list(dict.fromkeys(urls))
        try:
            if len(distinct) <= 1:
                return {url: self.reason(url) for url in distinct}
            with ThreadPoolExecutor(min(self.workers, len(distinct)), thread_name_prefix="cv-check") as pool:
                return dict(zip(distinct, pool.map(self.reason, distinct)))
        finally:
            self.pool.clear()

    def reason(self, url: str) -> str | None:
        """Return why the CV at ``url`` cannot go (it names no one), or None."""
        try:
            if self.plain(url):
                self.check(url)
            else:
                CvStream(url, max_bytes=self.max_bytes, timeout=self.timeout).check()
        except CvError as exc:
            return exc.reason
        return None

    def check(self, url: str) -> None:
        """Raise CvError if the CV at the plain ``url`` cannot be fetched or is over the cap."""
        try:
            response = self.pool.request(
                "GET", url, preload_content=False, timeout=self.timeouts, retries=False, redirect=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise CvError(f"its URL could not be fetched ({type(as_requests_error(exc)).__name__})") from None
        read = False  # a connection goes back to the pool only with its body read to the end
        try:
            if 300 <= response.status < 400:  # requests follows it, looking up the proxy for each hop
                CvStream(url, max_bytes=self.max_bytes, timeout=self.timeout).check()
                return
            if response.status >= 400:
                raise CvError(f"its URL answered HTTP {response.status}", response.status)
            length = stated_length(response.headers)
            if length is not None and length > self.max_bytes:
                raise CvError(too_large(length, self.max_bytes))
            if length is None:
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
            raise CvError(f"its URL could not be read ({type(as_requests_error(exc)).__name__})") from None

    def plain(self, url: str) -> bool:
        """Return True for an ``http(s)`` URL that ``requests`` would reach without a proxy from the environment."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
            where = (parts.scheme.lower(), parts.netloc)
            if where not in self.direct:
                web = where[0] in ("http", "https") and bool(parts.hostname)
                self.direct[where] = web and not requests.utils.get_environ_proxies(url)
            return self.direct[where]
        except ValueError:  # malformed (a bad port, a bad IPv6 address): requests says how
            return False
