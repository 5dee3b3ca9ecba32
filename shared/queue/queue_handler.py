"""What the queue functions (and the CLI's drain) do with one message.

``handle`` runs a batch message through the worker. A malformed message can never succeed:
it is parked in the durable poison store at once, with its reason. A rate-limited batch is
re-queued with a delay, without spending a poison attempt (HubSpot's daily limit: a bounded
number of times). Any other failure is recorded on the batch and re-raised, so the queue
redelivers it and, after ``maxDequeueCount`` tries, moves it to the poison queue, where
``park`` stores it durably.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.errors import Action, MalformedMessage, Verdict, judge
from shared.keys import key_to_json
from shared.queue.backends import Queue
from shared.queue.messages import BatchMessage, peek_batch_id
from shared.state import RecordState, StateStore
from shared.sync.batch_processor import Worker, log_run_done
from shared.sync_logger import log_event

log = logging.getLogger("hubsync.queue")
SYNCED = ("created", "updated", "adopted", "unchanged")
MAX_DEFERRALS = 20


@dataclass
class MessageHandler:
    worker: Worker
    state: StateStore
    queue: Queue | None
    queue_name: str
    max_deferrals: int = MAX_DEFERRALS
    max_defer_seconds: float | None = None  # the CLI stops instead of waiting out a long deferral

    def handle(self, body: str, dequeue_count: int = 1, message_id: str | None = None, park: bool = True) -> str:
        """Process one message body; returns 'done', 'parked' or 'deferred', or raises to retry.
        ``park=False`` (a replay of a parked message) raises instead of parking it a second time."""
        try:
            msg = BatchMessage.from_json(body)
        except MalformedMessage as err:
            if not park:
                raise
            self._park(body, message_id, dequeue_count, None, f"malformed message: {err}")
            return "parked"
        try:
            self.worker.process(msg)
            return "done"
        except Exception as err:
            verdict = judge(err)
            if verdict.action is Action.PARK and not park:
                self._failed(msg, err, dequeue_count)
                raise
            if verdict.action is Action.PARK:
                self._park(body, message_id, dequeue_count, msg, str(err))
                return "parked"
            if verdict.action is Action.DEFER and self._may_defer(msg, verdict):
                # a copy, delayed, replaces the message: the batch spends none of its delivery attempts, and
                # the queue holds no more messages than before (nothing for the platform to scale out on)
                self.queue.send(msg.model_copy(update={"deferrals": msg.deferrals + 1}).to_json(),  # type: ignore[union-attr]
                                visibility_timeout=verdict.delay or 0)
                log_event(log, logging.WARNING, "rate_limited", run_id=msg.run_id, object=msg.object,
                          batch_id=msg.batch_id, delay_s=verdict.delay, deferrals=msg.deferrals + 1)
                return "deferred"
            self._failed(msg, err, dequeue_count)
            raise

    def _may_defer(self, msg: BatchMessage, verdict: Verdict) -> bool:
        """HubSpot's rolling window always frees again: a batch it throttles is deferred however often
        (the shared budget keeps that rare). The daily limit is deferred ``max_deferrals`` times."""
        return (self.queue is not None and (verdict.paced or msg.deferrals < self.max_deferrals)
                and (self.max_defer_seconds is None or (verdict.delay or 0) <= self.max_defer_seconds))

    def _failed(self, msg: BatchMessage, err: Exception, dequeue_count: int) -> None:
        text = f"{type(err).__name__}: {err}"[:2000]
        try:
            self.state.batch_finished(msg.batch_id, "failed", text)
        except Exception as state_err:  # noqa: BLE001 - the database may be what failed; keep the original error
            log.warning("could not record the failure of batch %s: %s", msg.batch_id, type(state_err).__name__)
        log_event(log, logging.WARNING, "batch_failed", run_id=msg.run_id, object=msg.object,
                  batch_id=msg.batch_id, attempt=dequeue_count, error=text)

    def park(self, body: str, message_id: str | None = None, dequeue_count: int | None = None,
             queue: str | None = None) -> int:
        """Store a poison-queue message durably, with the last error its batch met."""
        try:
            msg: BatchMessage | None = BatchMessage.from_json(body)
        except MalformedMessage:
            msg = None
        batch_id = msg.batch_id if msg else peek_batch_id(body)
        error = (self.state.batch_error(batch_id) if batch_id else None) or "failed every delivery attempt"
        return self._park(body, message_id, dequeue_count, msg, error, queue=queue)

    def _park(self, body: str, message_id: str | None, dequeue_count: int | None, msg: BatchMessage | None,
              error: str, queue: str | None = None) -> int:
        poison_id = self.state.park_poison(queue or self.queue_name, body, message_id, dequeue_count,
                                           msg.batch_id if msg else peek_batch_id(body), error)
        if msg is not None:
            try:
                self._mark_failed(msg, poison_id, error)
            except Exception as err:  # noqa: BLE001 - the message itself is stored; say why its rows are not marked
                log_event(log, logging.ERROR, "park_bookkeeping_failed", poison_id=poison_id, batch_id=msg.batch_id,
                          error=f"{type(err).__name__}: {str(err)[:300]}")
        log_event(log, logging.ERROR, "message_parked", poison_id=poison_id,
                  batch_id=msg.batch_id if msg else None, error=error[:500])
        return poison_id

    def _mark_failed(self, msg: BatchMessage, poison_id: int, error: str) -> None:
        """Mark the batch's rows that this run did not settle as failed, with the poison reference."""
        reason = f"batch parked in poison store #{poison_id}: {error}"[:2000]
        versions = {key_to_json(k.k): k.v for k in msg.keys}
        keys = list(versions)
        known = self.state.get_records(msg.object, keys)

        def settled(key: str) -> bool:
            st = known.get(key)
            if st is None or st.last_outcome == "failed":
                return False
            if st.run_id == msg.run_id:
                return True  # this run already wrote, skipped, rejected or missed it: it did not fail
            # a later run synced this version or a newer one: a late park must not mark it failed
            return st.last_outcome in SYNCED and (st.source_version or "") >= versions[key]

        unsettled = [k for k in keys if not settled(k)]
        newly_failed = [k for k in unsettled if not (k in known and known[k].run_id == msg.run_id)]
        self.state.save_records(msg.object, [RecordState(k, None, None, None, None, "failed", reason)
                                             for k in unsettled], msg.run_id)
        self.state.add_counts(msg.run_id, failed=len(newly_failed))
        self.state.batch_finished(msg.batch_id, "poisoned", error[:2000])
        if self.state.maybe_finish_run(msg.run_id):
            log_run_done(self.state, msg.run_id)
