"""One whole sync, as ``hubsync run`` does it: plan the deltas, enqueue them, drain the queue
with N workers through the queue function's code, and move the watermarks."""

from __future__ import annotations

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
    plan = rt.planner().plan("cli", objects, full, on_page=on_page, retry_rejected=retry_rejected)
    if on_planned:
        on_planned(plan)
    handler = rt.handler()
    handler.max_defer_seconds = LONGEST_WAIT  # HubSpot's daily limit stops a CLI run; it is not waited out
    try:
        drained = drain(
            rt.queue, rt.poison_queue, handler, workers=workers,
            max_dequeue_count=rt.config.queue.max_dequeue_count,
            visibility_timeout=rt.config.queue.visibility_timeout_seconds,
            base_backoff=base_backoff, on_message=on_message, give_up_after=give_up_after,
        )
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
