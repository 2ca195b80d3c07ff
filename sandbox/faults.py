"""A fault the sandbox injects: matched on method, path prefix and key, used a number of times."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fault:
    """One injected fault: matched on method and path prefix, used ``times`` times."""

    path: str
    status: int = 503  # 0: only delay, then answer normally
    method: str | None = None
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0
    lose_response: bool = False  # apply the request, then drop the connection
    slow_apply: float = 0.0  # apply the request, then wait this long before answering
    applied_status: int = 0  # apply the request, then answer this status (a gateway's 502/504 after the apply)
    match_key: str | None = None  # only requests whose body or query mentions this key
    reason: str = "injected fault"
    content_type: str = "application/json"  # e.g. "text/html": a proxy's page instead of HrFlow's JSON

    @property
    def kind(self) -> str:
        """Name what this fault does, for counting: errors, delays and lost answers are told apart."""
        if self.lose_response:
            return "lost_answer"
        if self.applied_status:
            return f"applied_{self.applied_status}"
        if self.slow_apply:
            return "slow_apply"
        if self.content_type != "application/json":
            return "non_json"
        return "delay" if self.status == 0 else f"http_{self.status}"

    def matches(self, method: str, path: str, raw: str) -> bool:
        return (
            self.times > 0
            and path.startswith(self.path)
            and self.method in (None, method)
            and (self.match_key is None or self.match_key in raw)
        )
