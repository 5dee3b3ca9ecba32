"""One whole sync, as ``hubsync run`` does it: plan the deltas, enqueue them, drain the queue
with N workers through the queue function's code, and move the watermarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import SourceUnavailable
from shared.queue.drain import LONGEST_WAIT, DrainResult, drain
from shared.redaction import first_line
from shared.runtime import Runtime
from shared.sync.planner import PlanResult


@dataclass
class SyncResult:
    plan: PlanResult
    drain: DrainResult
    run: dict[str, Any]

    @property
    def earlier_batches(self) -> int:
        """Batches of earlier runs this run's drain finished too (a durable queue keeps them): their
        rows count in those runs, not in this one's summary."""
        return max(0, self.drain.done + self.drain.parked + self.drain.deferred - self.plan.batches)

    @property
    def clean(self) -> bool:
        return not (self.run.get("rejected") or self.run.get("failed")) and self.drain.fatal is None


MAX_BACKLOG = 50  # in-process messages the planner may run ahead of the workers (5,000 rows)


def _plan_while_draining(rt: Runtime, run_drain: Callable[..., DrainResult], objects: Sequence[str] | None,
                         full: bool, on_page: Callable[[int], None] | None,
                         on_planned: Callable[[PlanResult], None] | None,
                         retry_rejected: bool) -> tuple[PlanResult, Callable[[], DrainResult]]:
    """With the in-process queue the workers drain while the planner reads, and the planner waits
    while ``MAX_BACKLOG`` messages are queued: a backfill of any size holds a bounded number of
    messages in memory. Returns the plan and a function that waits for the drain to end."""
    planning, cancel = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["drained"] = run_drain(planning, cancel)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = err

    worker = threading.Thread(target=work, name="hubsync-drain", daemon=True)
    worker.start()

    def page(rows: int) -> None:
        if on_page:
            on_page(rows)
        while rt.queue.approximate_count() > MAX_BACKLOG and worker.is_alive():
            time.sleep(0.01)  # the workers are behind: read on when they catch up

    try:
        plan = rt.planner().plan("cli", objects, full, on_page=page, retry_rejected=retry_rejected)
    except BaseException:
        cancel.set()  # the messages in hand are finished; the rest die with the in-process queue
        planning.set()
        worker.join()
        raise
    planning.set()
    if on_planned:
        on_planned(plan)

    def wait() -> DrainResult:
        while worker.is_alive():
            worker.join(0.2)  # in steps, so that Ctrl-C reaches this thread
        if "error" in outcome:
            raise outcome["error"]
        return outcome["drained"]

    return plan, wait


def run_sync(
    rt: Runtime,
    objects: Sequence[str] | None = None,
    full: bool = False,
    workers: int = 4,
    on_page: Callable[[int], None] | None = None,
    on_planned: Callable[[PlanResult], None] | None = None,
    on_message: Callable[[], None] | None = None,
    base_backoff: float = 1.0,
    retry_rejected: bool = False,
    give_up_after: int | None = None,
) -> SyncResult:
    if not rt.durable_queue:
        # an earlier `hubsync run` that was killed left its run open, and its queue died with it; its
        # watermark had not moved, so this run reads its rows again
        rt.state.abandon_runs("the process running it ended before its batches were done; the next run read them again")
    handler = rt.handler()
    handler.max_defer_seconds = LONGEST_WAIT  # HubSpot's daily limit stops a CLI run; it is not waited out

    def run_drain(planning: threading.Event | None = None, cancel: threading.Event | None = None) -> DrainResult:
        return drain(
            rt.queue, rt.poison_queue, handler, workers=workers,
            max_dequeue_count=rt.config.queue.max_dequeue_count,
            visibility_timeout=rt.config.queue.visibility_timeout_seconds,
            base_backoff=base_backoff, on_message=on_message, give_up_after=give_up_after,
            planning=planning, cancel=cancel,
        )

    if rt.durable_queue:  # the batches outlive this process: plan them all, then work through them
        plan = rt.planner().plan("cli", objects, full, on_page=on_page, retry_rejected=retry_rejected)
        if on_planned:
            on_planned(plan)
        drain_now: Callable[[], DrainResult] = run_drain
    else:
        plan, drain_now = _plan_while_draining(rt, run_drain, objects, full, on_page, on_planned, retry_rejected)
    try:
        drained = drain_now()
    except KeyboardInterrupt:
        rt.state.finish_run(plan.run_id, "interrupted", "interrupted by the operator; the next run resumes")
        raise
    try:
        if drained.fatal is not None:
            rt.state.finish_run(plan.run_id, "failed", str(drained.fatal)[:2000])
        else:
            if not rt.durable_queue:
                # the in-process queue dies with this process: move the watermarks only now that
                # every batch is done or durably parked in the poison store
                for p in plan.objects:
                    if p.position is not None:
                        rt.state.set_position(p.object_name, p.position)
            rt.state.maybe_finish_run(plan.run_id)
        run = rt.state.get_run(plan.run_id) or {}
    except SourceUnavailable as err:
        cause = drained.fatal or err
        raise SourceUnavailable(f"the state database became unavailable during the run: {type(cause).__name__}: "
                                f"{first_line(cause)}") from None
    return SyncResult(plan, drained, run)
