"""Poison-queue trigger: store a batch that kept failing durably, with its last error."""

from __future__ import annotations

import azure.functions as func

from functions.runtime import get_runtime
from shared.settings import POISON_SUFFIX

bp = func.Blueprint()


@bp.function_name("poison")
@bp.queue_trigger(arg_name="msg", queue_name="%HUBSYNC_QUEUE_NAME%" + POISON_SUFFIX, connection="AzureWebJobsStorage")
def poison(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8", errors="replace")
    rt = get_runtime()
    rt.handler().park(body, msg.id, msg.dequeue_count, queue=rt.settings.poison_queue_name)
