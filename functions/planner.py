"""Timer trigger: check the deployment can sync, then read the SQL deltas and enqueue batch messages."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import get_runtime
from shared import readiness
from shared.sync_logger import log_event

bp = func.Blueprint()
log = logging.getLogger("hubsync.functions.planner")


@bp.function_name("planner")
@bp.timer_trigger(arg_name="timer", schedule="%HUBSYNC_SCHEDULE%", run_on_startup=False, use_monitor=True)
def planner(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log_event(log, logging.WARNING, "timer_past_due")
    rt = get_runtime()  # a deployment that cannot start fails here, naming each problem
    readiness.require(rt)  # database access, state tables, queue: nothing is enqueued until they answer
    result = rt.planner().plan("timer")
    log_event(log, logging.INFO, "run_enqueued", run_id=result.run_id, rows_read=result.rows, batches=result.batches)
