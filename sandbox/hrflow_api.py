"""The HrFlow API emulator: ``/v1/...`` as the ``hrflow`` SDK calls it (see sandbox/server.py for what it models)."""

from __future__ import annotations

import copy
import json

import msgspec

from sandbox.object_fields import now, parse_date, sort_date
from sandbox.objects import API_SECRET, API_USER
from sandbox.state import SandboxState


class HrFlowRoutes:
    """The HrFlow API emulator: ``/v1/...`` as the ``hrflow`` SDK calls it (sandbox/server.py: what it models)."""

    def _hrflow(self, method: str, route: str, query: dict[str, str], body: bytes) -> None:
        if self.headers.get("X-API-KEY") != API_SECRET or self.headers.get("X-USER-EMAIL") != API_USER:
            return self._envelope(401, "Unauthorized. Invalid secret key or user email.")
        if route == "auth":
            return self._envelope(200, "Authenticated", {"email": API_USER})
        for kind, (plural, container_field, containers_param) in SandboxState.KINDS.items():
            if route == f"{plural}/searching" and method == "GET":
                return self._search(kind, plural, containers_param, query)
            if route == f"storing/{plural}" and method == "GET":
                return self._storing_list(kind, plural, containers_param, query)
            if route == f"{kind}/indexing" and method == "GET":
                return self._get_one(kind, query.get(container_field), query.get("key"))
            if route == f"{kind}/indexing" and method == "PUT":
                return self._put_one(kind, container_field, msgspec.json.decode(body or b"{}"))
            if route == f"{kind}/indexing/archive" and method == "PATCH":  # "Archive a Profile in a Source"
                data = msgspec.json.decode(body or b"{}")
                if data.get("key") not in self.state.objects[kind].get(data.get(container_field), {}):
                    return self._envelope(400, f"Invalid parameters. Unable to find object: {kind}")
                self.state.archive(kind, data[container_field], data["key"])
                return self._envelope(200, f"{kind} archived", {"key": data["key"]})
        self._envelope(404, f"Unknown endpoint {route}")

    def _listing_refusal(
        self, kind: str, containers: list[str], containers_param: str, limit: int, page: int = 1
    ) -> str | None:
        """Return HrFlow's 400 message for a listing of unknown containers, an oversized or too deep page, else None."""
        unknown = [c for c in containers if c not in self.state.objects[kind]]
        if unknown:
            return f"Invalid parameters. Unable to find object: {containers_param[:-1]} {unknown[0]}"
        if limit > 1000:
            return "Invalid parameters: limit must be <= 1000"
        cap = self.state.max_result_window
        if cap is not None and page * limit > cap:
            with self.state.lock:
                self.state.calls["refused: result window"] += 1
            return f"Invalid parameters: page * limit must be <= {cap}"
        return None

    def _search(self, kind: str, plural: str, containers_param: str, query: dict[str, str]) -> None:
        try:
            containers = json.loads(query[containers_param])
            params = {k: json.loads(v) if k.startswith("tags_") else v for k, v in query.items()}
            page, limit = int(query.get("page", 1)), int(query.get("limit", 30))
        except (KeyError, ValueError) as exc:
            return self._envelope(400, f"Invalid parameters: {exc}")
        if (refusal := self._listing_refusal(kind, containers, containers_param, limit, page)) is not None:
            return self._envelope(400, refusal)
        if (fast := self.state.fast_listing(kind, containers, params, page, limit, search=True)) is not None:
            page_items, total = fast
        else:
            found = self.state.search(kind, containers, params)
            total = len(found)
            page_items = found[(page - 1) * limit : page * limit]
        meta = {"page": page, "maxPage": max(1, -(-total // limit)), "count": len(page_items), "total": total}
        self._envelope(200, f"Succeeded to get {plural}", {plural: page_items}, meta)

    def _storing_list(self, kind: str, plural: str, containers_param: str, query: dict[str, str]) -> None:
        """``GET /storing/<plural>``: every stored object, eligible for search or not; ``data`` is a list."""
        try:
            containers = json.loads(query[containers_param])
            page, limit = int(query.get("page", 1)), int(query.get("limit", 30))
            low, high = self.state.created_bounds(query)
        except (KeyError, ValueError) as exc:
            return self._envelope(400, f"Invalid parameters: {exc}")
        if (refusal := self._listing_refusal(kind, containers, containers_param, limit, page)) is not None:
            return self._envelope(400, refusal)
        sort_by = query.get("sort_by", "created_at")
        if (fast := self.state.fast_listing(kind, containers, query, page, limit, search=False)) is not None:
            items, total = fast
        else:
            with self.state.lock:
                found = [
                    o
                    for c in containers
                    for o in self.state.objects[kind].get(c, {}).values()
                    if not o.get("archived_at")  # archived objects leave the listings
                    and (low is None or parse_date(o["created_at"]) >= low)
                    and (high is None or parse_date(o["created_at"]) <= high)
                ]
            found.sort(
                key=lambda o: (sort_date(o.get(sort_by)), o["key"]), reverse=query.get("order_by", "desc") != "asc"
            )
            total = len(found)
            items = found[(page - 1) * limit : page * limit]
        if self.state.empty_storing_listing:
            items, total = [], 0
        if str(query.get(f"return_{kind}", "")).lower() not in ("1", "true"):
            items = [{f: o.get(f) for f in ("key", "reference", "created_at", "updated_at")} for o in items]
        meta = {"page": page, "maxPage": max(1, -(-total // limit)), "count": len(items), "total": total}
        self._envelope(200, f"List of {plural}", items, meta)

    def _get_one(self, kind: str, container: str | None, key: str | None) -> None:
        if container not in self.state.objects[kind]:
            return self._envelope(
                400, f"Invalid parameters. Unable to find object: {'source' if kind == 'profile' else 'board'}"
            )
        obj = self.state.objects[kind][container].get(key or "")
        if obj is None:
            return self._envelope(400, f"Invalid parameters. Unable to find object: {kind}")
        if key in self.state.edit_after_read:  # the answer shows the object as it was; the edit lands before any PUT
            self.state.edit_after_read.discard(key)
            answer = copy.deepcopy(obj)
            self.state.third_party_edit(key, delay=0)
            return self._envelope(200, f"{kind} retrieved", answer)
        self._envelope(200, f"{kind} retrieved", obj)

    def _put_one(self, kind: str, container_field: str, obj: dict) -> None:
        container, key = obj.get(container_field), obj.get("key")
        with self.state.lock:
            if key not in self.state.objects[kind].get(container, {}):
                return self._envelope(400, f"Invalid parameters. Unable to find object: {kind}")
            stored = dict(obj)  # source_key/board_key stay on the object, as on the real API
            stored["updated_at"] = now()
            self.state.objects[kind][container][key] = stored
            self.state.edits[key] += 1
            self.state.version += 1
        self._envelope(200, f"{kind} edited", stored)
        if self.state.webhook is not None:  # HrFlow announces the update, after answering
            self.state.webhook.announce(f"{kind}.storing.update", kind, stored)
