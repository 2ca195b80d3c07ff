"""
Add up a run: counts in total and per source or board, the keys that failed and why, and the end of the run
(asset events, metrics, deletion of the candidate data that travelled). Pure code apart from ``finish_run``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hrflow_airflow.alerts.monitoring import summary_table
from hrflow_airflow.dates import setting_datetime
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.sealed import delete_xcoms
from hrflow_airflow.sync.listing import close_run
from hrflow_airflow.sync.payloads import UPDATE, Failure, Posted, Stats, Summary, Tagged, Transformed
from hrflow_airflow.sync.spill import delete_run_dir, run_dir, spill_root

log = logging.getLogger(__name__)

FAILED_KEYS_IN_MESSAGE = 20
COUNTS = ("found", "transformed", "posted", "tagged", "skipped", "failed")


def found_by_container(items: Iterable[list[Any]], containers: Iterable[str] = ()) -> dict[str, int]:
    """Count search results per source or board; ``containers`` searched without results count 0."""
    return {**dict.fromkeys(containers, 0), **Counter(item[1] for item in items)}


def lost(items: Iterable[list[str]], reason: str) -> list[Failure]:
    """Return a failure of ``reason`` for each ``[key, container]``."""
    return [Failure(key=key, container=container, reason=reason) for key, container in items]


def batch_results(ti: Any, task_id: str, batches: int) -> Iterator[dict[str, Any]]:
    """
    Yield the result of mapped task ``task_id`` for each of the run's ``batches``, one XCom read at a time.

    Batches whose task did not finish have none and are skipped. (Passing the task's output to a task outside
    its mapped group would read every batch's result at once, and a run of one batch gets that one result
    instead of a list of one.)
    """
    for index in range(batches):
        value = ti.xcom_pull(task_ids=task_id, map_indexes=index, default=None)
        if value is not None:
            yield value


def build_summary(
    kind: ObjectKind,
    *,
    stats: Stats,
    dry_run: bool,
    transformed: Iterable[Transformed],
    posted: Iterable[Posted],
    tagged: Iterable[Tagged],
) -> Summary:
    """
    Add up the counts and failed keys of one run, in total and per source or board (``by_container``).

    Batches whose task never finished count as failed. The three inputs are read once each, one batch at a
    time (Airflow's lazy XCom sequences): tagging and posting results are reduced to counts per container
    first, so memory holds counts and failed keys, not a million keys.
    """
    tags, newest_write = reduce_tagged(tagged)
    posts, extras = reduce_posted(posted, tags)
    per, failures = account_batches(kind, stats, dry_run, transformed, posts, tags)
    by_container = {c: {f: counts[f] for f in COUNTS} for c, counts in sorted(per.items())}
    totals = {f: sum(counts[f] for counts in by_container.values()) for f in COUNTS[1:]}
    totals["failed"] += stats["found"] - sum(counts["found"] for counts in by_container.values())
    return Summary(
        kind=kind.plural,
        container=kind.container,
        found=stats["found"],
        **totals,
        failed_keys=failures,
        refused=len(extras["refused"]),
        refused_keys=extras["refused"],
        quarantined=len(extras["quarantined"]),
        quarantined_keys=extras["quarantined"],
        dry_run=dry_run,
        by_container=by_container,
        listing=stats.get("listing", "search"),
        found_only_by_sweep=stats.get("found_only_by_sweep"),
        resumed=extras["resumed"],
        unknown=len(extras["unknown"]),
        unknown_keys=[f["key"] for f in extras["unknown"]],
        linked=extras["linked"],
        **{name: extras[name] for name in WHOLE},
        why=stats.get("why", ""),
        updated=extras["updated"],
        changes=stats.get("changes"),
        newest_write=newest_write,
    )


def add_removal(result: Summary, removal: dict[str, Any] | None, gone: Mapping[str, Any]) -> None:
    """
    Add what the full sweep found archived or deleted, and what left the ATS, to the run's summary. Removals that
    failed fail the run, and so does a ``remove`` task that did not finish (its log says why: the guard's first
    stop, a refused credential).
    """
    if removal is None:
        why = "remove did not finish (see its log): nothing archived or deleted in HrFlow was removed"
        removal = {
            "archived": len(gone["archived"]),
            "deleted": len(gone["deleted"]),
            "removed": [],
            "failed": [Failure(key="-", container="-", reason=why)],
            "stopped": gone.get("stopped"),
        }
    result["removal"] = removal
    result["failed_keys"] = [*result["failed_keys"], *removal["failed"]]
    result["failed"] += len(removal["failed"])


WHOLE = ("cvs", "cv_isolated", "applications", "unknown_jobs", "left_applications", "jobs")


def empty_whole() -> dict[str, Any]:
    """Return the run's whole-candidate counts before any batch: CVs, applications, their jobs."""
    return {"cvs": 0, "cv_isolated": [], "applications": 0, "unknown_jobs": [], "left_applications": [], "jobs": 0}


def add_whole(extras: dict[str, Any], post: Mapping[str, Any]) -> None:
    """Add one posted batch's CVs and applications to the run's (``jobs``: the distinct jobs applied to so far)."""
    extras["cvs"] += post.get("cvs", 0)
    extras["cv_isolated"] += post.get("cv_isolated", [])
    extras["applications"] += post.get("applications", 0)
    extras["unknown_jobs"] = sorted({*extras["unknown_jobs"], *post.get("unknown_jobs", [])})
    extras["left_applications"] += post.get("left_applications", [])
    extras.setdefault("job_set", set()).update(post.get("applied_jobs", []))
    extras["jobs"] = len(extras["job_set"])


def reduce_tagged(tagged: Iterable[Tagged]) -> tuple[dict[int, dict[str, Any]], str | None]:
    """Return each tagged batch's counts per container and failures, by batch index; and the newest write."""
    by_index, newest_write = {}, None
    for t in tagged:
        by_index[t["index"]] = {"by_container": t["by_container"], "failed": t["failed"]}
        newest_write = newest(newest_write, t.get("newest"))
    return by_index, newest_write


def reduce_posted(
    posted: Iterable[Posted], tags: Mapping[int, Any]
) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """
    Return each posted batch's accepted counts per container and rejections, by batch index (with its accepted
    keys only where tagging never reported: they are what failed); and the run-wide resumed, updated, refused and
    quarantined.
    """
    by_index: dict[int, dict[str, Any]] = {}
    extras: dict[str, Any] = {
        "resumed": 0,
        "updated": 0,
        "refused": [],
        "quarantined": [],
        "unknown": [],
        "linked": 0,
        **empty_whole(),
    }
    for post in posted:
        add_whole(extras, post)
        extras["resumed"] += post.get("resumed", 0)
        extras["unknown"] += post.get("unknown", [])
        extras["linked"] += len(post.get("linked", []))
        extras["updated"] += len(post.get("updated", []))
        extras["refused"] += post.get("refused", [])
        extras["quarantined"] += post.get("quarantined", [])
        by_index[post["index"]] = {
            "accepted": Counter(container for _, container in post["accepted"]),
            "rejected": post["rejected"],
            "untagged": post["accepted"] if post["index"] not in tags else [],
        }
    return by_index, extras


def account_batches(
    kind: ObjectKind,
    stats: Stats,
    dry_run: bool,
    transformed: Iterable[Transformed],
    posts: Mapping[int, dict[str, Any]],
    tags: Mapping[int, dict[str, Any]],
) -> tuple[dict[str, Counter], list[Failure]]:
    """Follow each transformed batch through posting and tagging; return the counts per container and failures."""
    per: dict[str, Counter] = {c: Counter(found=n) for c, n in (stats.get("found_by_container") or {}).items()}
    accounted: Counter = Counter()
    failures: list[Failure] = []
    seen = set()
    for batch in transformed:
        seen.add(batch["index"])
        if batch.get("mode") == UPDATE:  # synced objects: counted as updated, not found / posted / tagged
            failures += batch["failed"] + update_failures(batch, posts.get(batch["index"]), dry_run)
            continue
        for _, container in batch["items"]:
            per.setdefault(container, Counter())["transformed"] += 1
            accounted[container] += 1
        for failure in batch["failed"]:
            accounted[failure["container"]] += 1
        failures += batch["failed"]
        if not dry_run:
            failures += follow_batch(kind, batch, posts.get(batch["index"]), tags.get(batch["index"]), per)
    for failure in failures:
        per.setdefault(failure["container"], Counter())["failed"] += 1
    for container, counts in per.items():  # objects found whose batch never got through transform
        if "found_by_container" not in stats:
            counts["found"] = accounted[container]  # only the total is known
        counts["failed"] += counts["found"] - accounted[container]
    # batches whose transform never finished: their keys are not known here, only their count
    failures += [
        Failure(key=f"batch {i}", container=None, reason="transform did not finish")
        for i in range(stats["batches"])
        if i not in seen
    ]
    return per, failures


def follow_batch(
    kind: ObjectKind,
    batch: Transformed,
    post: dict[str, Any] | None,
    tag: dict[str, Any] | None,
    per: dict[str, Counter],
) -> list[Failure]:
    """Count one batch's posted and tagged objects into ``per``; return its failures from there on."""
    if post is None:
        return lost(batch["items"], "post_to_ats did not finish")
    for container, n in post["accepted"].items():
        per[container]["posted"] += n
    if tag is None:
        return post["rejected"] + lost(post["untagged"], f"tag_{kind.plural} did not finish")
    for container, counts in tag["by_container"].items():
        per[container]["tagged"] += counts["tagged"]
        per[container]["skipped"] += counts["skipped"]
    return post["rejected"] + tag["failed"]


def newest(a: str | None, b: str | None) -> str | None:
    """Return the later of two HrFlow dates (either may be None)."""
    if not a or not b:
        return a or b
    return a if setting_datetime(a, "updated_at") >= setting_datetime(b, "updated_at") else b


def update_failures(batch: Transformed, post: dict[str, Any] | None, dry_run: bool) -> list[Failure]:
    """Return what failed in an update batch: refused updates, or the whole batch when it was never posted."""
    if dry_run:
        return []
    if post is None:
        return lost(batch["items"], "post_to_ats did not finish (update)")
    return post["rejected"]


def log_summary(kind: ObjectKind, result: Summary) -> None:
    """Log the run's failed keys with their reasons, its counts as a table, and how it listed."""
    for failure in result["failed_keys"]:
        log.error("Failed %s %s: %s", kind.name, failure["key"], failure["reason"])
    log.info("Run summary%s:\n%s", " (dry run)" if result["dry_run"] else "", summary_table(result))
    sweep = "n/a (search)" if result["found_only_by_sweep"] is None else result["found_only_by_sweep"]
    if changes := result.get("changes"):
        log.info(
            "Updates: %s accepted by the ATS; changes listed (%s): %s read, %s changed, %s recorded as a baseline",
            result.get("updated", 0),
            changes["mode"],
            changes["read"],
            changes["changed"],
            changes["baselined"],
        )
    for entry in result.get("refused_keys", []):
        log.warning("Refused again %s %s: %s", kind.name, entry["key"], entry["reason"])
    for entry in result.get("quarantined_keys", []):
        log.warning("Quarantined %s %s (not sent): %s", kind.name, entry["key"], entry["reason"])
    if result.get("unknown"):
        log.warning(
            "Outcome unknown: %s %s whose create lost its answer, looked up again by the next runs (not failed): %s",
            result["unknown"],
            kind.plural,
            ", ".join(result.get("unknown_keys", [])),
        )
    if result.get("linked"):
        log.info("Linked: %s %s the ATS already held (updated, never removed)", result["linked"], kind.plural)
    log_whole(result)
    if (removal := result.get("removal")) and removal.get("not_ours"):
        log.warning("Left in place, not ours: %s", ", ".join(f["key"] for f in removal["not_ours"]))
    log.info(
        "Listing: %s; found only by the full sweep: %s; already accepted by the ATS in an earlier run "
        "(ledger), tagged only: %s",
        result["why"],
        sweep,
        result["resumed"],
    )


def log_whole(result: Mapping[str, Any]) -> None:
    """Log what went with the candidates: CVs, applications, CVs isolated, unknown jobs, applications left."""
    if result.get("cvs") or result.get("applications") or result.get("cv_isolated") or result.get("unknown_jobs"):
        log.info(
            "Whole candidate: %s CV(s) sent, %s application(s) made; CVs isolated (they follow in a later run): %s; "
            "jobs the ATS does not know (candidates created without them): %s",
            result.get("cvs", 0),
            result.get("applications", 0),
            len(result.get("cv_isolated") or []),
            ", ".join(result.get("unknown_jobs") or []) or "none",
        )
    for entry in result.get("cv_isolated") or []:
        log.warning("CV isolated for %s: %s", entry["key"], entry["reason"])
    for key, job in result.get("left_applications") or []:
        log.info("%s: its application tag for job %s was removed in HrFlow; the application stays in the ATS", key, job)


def failure_message(kind: ObjectKind, result: Summary) -> str | None:
    """Return why the run fails (the failed keys, the first few named), or None when nothing failed."""
    entries = result["failed_keys"]
    if not entries:
        return None
    shown = ", ".join(f"{f['key']} ({f['reason']})" for f in entries[:FAILED_KEYS_IN_MESSAGE])
    more = f" and {len(entries) - FAILED_KEYS_IN_MESSAGE} more" if len(entries) > FAILED_KEYS_IN_MESSAGE else ""
    return f"{result['failed']} {kind.plural} failed: {shown}{more}"


def end_of_run_cleanup(context: Mapping[str, Any], stats: Stats, transform_task_id: str, *, keep: bool) -> None:
    """
    Delete the candidate data that travelled (sealed XComs, batch files) once the run is done; a run with
    failures keeps it, sealed, so that "clear failed tasks" can retry (docs/security.md), and closes its listing
    (an ended run is not resumed: the next run lists anew).
    """
    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    if keep:
        if (root := spill_root()) is not None:
            close_run(run_dir(root, dag_id, run_id))
        log.info("Run has failures: sealed candidate data kept for retries until the run succeeds or is cleaned")
        return
    deleted = delete_xcoms(context, {"search": None, transform_task_id: stats["batches"]})
    spilled = delete_run_dir(spill_root(), dag_id, run_id, stats.get("dirs", ()))
    log.info("Deleted %s sealed XCom(s) of candidate data%s", deleted, " and the run's batch files" if spilled else "")
