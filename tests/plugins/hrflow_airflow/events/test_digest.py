"""The SMS digest of a burst: its per-window count in the ledger's database, and what each run does."""

from __future__ import annotations

from hrflow_airflow.events.digest import DIGEST, SEND, SKIP, WINDOW_SECONDS, Bursts, decide, digest_text


def test_each_window_counts_its_runs_in_the_database(ledger_path):
    start = 1_800_000_000 // WINDOW_SECONDS * WINDOW_SECONDS
    bursts = Bursts()
    assert [bursts.count(start + i)[1] for i in range(3)] == [1, 2, 3]
    assert Bursts().count(start + WINDOW_SECONDS) == (start + WINDOW_SECONDS, 1)  # a new window starts afresh
    assert Bursts().count(start + 5) == (start, 4)  # another process sees the same count


def test_past_the_threshold_one_digest_replaces_the_rest():
    assert [decide(n, 3) for n in range(1, 7)] == [SEND, SEND, SEND, DIGEST, SKIP, SKIP]
    assert [decide(n, None) for n in (1, 500)] == [SEND, SEND]  # off by default


def test_the_digest_names_counts_and_times_only():
    text = digest_text(50, 1_800_000_000 // WINDOW_SECONDS * WINDOW_SECONDS)
    assert text.startswith("[HrFlow] More than 50 new profiles in 10 min") and "UTC" in text
