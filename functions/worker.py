"""Queue trigger: upsert one batch into HubSpot."""

from __future__ import annotations

import azure.functions as func

from functions.runtime import get_runtime

bp = func.Blueprint()


@bp.function_name("worker")
@bp.queue_trigger(arg_name="msg", queue_name="%HUBSYNC_QUEUE_NAME%", connection="AzureWebJobsStorage")
def worker(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8", errors="replace")
    get_runtime().handler().handle(body, msg.dequeue_count or 1, msg.id)
