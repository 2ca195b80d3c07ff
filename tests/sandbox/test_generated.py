"""The sandbox's generated container: objects made from their index, listings without scans."""

from __future__ import annotations

import msgspec

from sandbox.objects import example, example_bytes, make_key, make_profile
from sandbox.state import SandboxState

SYNC = [[{"name": "sync", "value": "1"}]]


def test_generated_objects_equal_seeded_ones_and_listings_match_the_generic_search():
    generated, stored = SandboxState(), SandboxState()
    for state, flag in ((generated, True), (stored, False)):
        state.seed("profile", "src", 50, created_at="2026-01-01T00:00:00+00:00", spread_seconds=1, generated=flag)
    key = make_key("profile", "src", 7)
    assert generated.get("profile", "src", key) == stored.get("profile", "src", key)
    assert generated.get("profile", "src", key)["info"]["email"] == make_profile("src", 7)["info"]["email"]
    for state in (generated, stored):  # tag three objects, as the sync's PUT would
        for i in (3, 10, 11):
            obj = state.get("profile", "src", make_key("profile", "src", i))
            obj["tags"] = [{"name": "sync", "value": "1"}]
            state.objects["profile"]["src"][obj["key"]] = obj
    params = {
        "tags_excluded": SYNC,
        "order_by": "asc",
        "created_at_min": "2026-01-01T00:00:05+0000",
        "created_at_max": "2026-01-01T00:00:30+0000",
    }
    page, total = generated.fast_listing("profile", ["src"], params, 2, 10, search=True)
    found = stored.search("profile", ["src"], params)
    assert total == len(found) == 26 - 2
    assert [o["key"] for o in page] == [o["key"] for o in found[10:20]]
    desc, _ = generated.fast_listing("profile", ["src"], {**params, "order_by": "desc"}, 1, 3, search=True)
    assert [o["key"] for o in desc] == [o["key"] for o in found[::-1][:3]]
    assert generated.fast_listing("profile", ["src"], {"tags_included": SYNC}, 1, 10, search=True) is None
    assert sorted(generated.snapshot()["synced"]["profile"]) == sorted(stored.snapshot()["synced"]["profile"])
    # generated profiles share the example's unchanging parts: making, tagging and listing them left it intact
    assert example() == msgspec.json.decode(example_bytes())
    assert generated.objects["profile"]["src"][key]["experiences"] is example()["experiences"]


def test_a_put_keeps_only_what_changed_and_the_counts_follow():
    state = SandboxState()
    state.seed("profile", "src", 1000, created_at="2026-01-01T00:00:00+00:00", spread_seconds=1, generated=True)
    bucket = state.objects["profile"]["src"]
    obj = bucket[make_key("profile", "src", 5)]
    obj["tags"] = [{"name": "sync", "value": "1"}]
    bucket[obj["key"]] = obj
    assert set(bucket.overlay[5]) == {"tags"} and bucket[obj["key"]]["tags"] == obj["tags"]
    counts = state.exactly_once("profile", "src", "profiles")
    assert {k: counts[k] for k in ("objects", "lost", "duplicates", "untagged", "edited_twice")} == {
        "objects": 1000,
        "lost": 1000,
        "duplicates": 0,
        "untagged": 999,
        "edited_twice": 0,
    }
    assert counts["requests"] == counts["replays"] == counts["unanswered"] == 0
    _, total = state.fast_listing("profile", ["src"], {"tags_excluded": SYNC}, 1, 1, search=True)
    assert total == 999
