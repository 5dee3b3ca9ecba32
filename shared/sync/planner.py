"""The planner: changed rows -> batch messages on the queue, then the watermark moves.

Deltas are read page by page (keyset on watermark, key); each page's keys are packed into
messages of at most one HubSpot batch and 64 KiB encoded; the position moves only after all
of a page's messages were enqueued. With a durable queue (Storage) the position is saved per
page, so a crashed plan resumes; with the in-process queue it is saved by the caller only
once every batch has been processed or durably parked.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from shared.config import ObjectConfig, SyncConfig
from shared.errors import ConfigurationError, SourceUnavailable
from shared.keys import Position, jsonable_key, key_from_json, key_to_json
from shared.mapping.data_validator import PortalSchema
from shared.mapping.field_mapper import mapping_fingerprint, source_hash
from shared.queue.backends import MessageTooLarge, Queue
from shared.queue.messages import MAX_BODY_BYTES, PackedMessage, batch_body
from shared.redaction import first_line
from shared.source.delta import DeltaRow, DeltaSource
from shared.state import RecordState, StateStore
from shared.sync.assessment import describe_owner, key_order
from shared.sync_logger import log_event

log = logging.getLogger("hubsync.planner")


def watermark_origin(obj: ObjectConfig) -> str:
    """What an object's saved versions are versions of: its table, watermark column and kind."""
    return f"{obj.table}.{obj.watermark.column} ({obj.watermark.kind})"


def position_problem(obj: ObjectConfig, position: Position | None) -> str | None:
    """Why a saved position cannot be used, when the object now reads another table or column."""
    if position is None or position.origin is None or position.origin == watermark_origin(obj):
        return None
    return (f"object {obj.name!r}: its saved watermark is a version of {position.origin}, but the configuration "
            f"now reads {watermark_origin(obj)}; resuming would skip rows. Run `hubsync reset {obj.name}` to read "
            "it again from the start (rows HubSpot already holds unchanged cost no calls)")


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass
class ObjectPlan:
    object_name: str
    rows: int = 0
    batches: int = 0
    too_large: int = 0
    position: Position | None = None


@dataclass
class PlanResult:
    run_id: str
    objects: list[ObjectPlan] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.objects)

    @property
    def batches(self) -> int:
        return sum(o.batches for o in self.objects)


def pack_messages(run_id: str, obj: ObjectConfig, rows: Sequence[DeltaRow], first_seq: int,
                  max_bytes: int = MAX_BODY_BYTES, prefix: str = "") -> Iterator[tuple[PackedMessage | None, list[DeltaRow]]]:
    """Messages of at most ``obj.batch_size`` keys and ``max_bytes`` of JSON, each serialised once.

    Yields (message, rows); a row whose key alone is too big for a message yields (None, [row]).
    """
    seq = first_seq
    pending = [(jsonable_key(r.key), r.version) for r in rows]
    offset = 0
    while offset < len(pending):
        count = min(obj.batch_size, len(pending) - offset)
        batch_id = f"{run_id}:{obj.name}:{prefix}{seq}"
        while True:
            body = batch_body(run_id, batch_id, obj.name, pending[offset:offset + count])
            if len(body.encode("utf-8")) <= max_bytes:
                msg: PackedMessage | None = PackedMessage(run_id, batch_id, obj.name, body, count)
                break
            if count == 1:
                msg = None
                break
            count //= 2
        yield msg, list(rows[offset:offset + count])
        seq += 1
        offset += count


@dataclass
class Planner:
    config: SyncConfig
    state: StateStore
    queue: Queue
    delta_for: Callable[[ObjectConfig], DeltaSource]
    save_positions: bool = True
    # the portal's schema of an object type: with it a full re-read skips rows that did not change
    schema_for: Callable[[str], PortalSchema] | None = None

    def plan(self, mode: str, objects: Sequence[str] | None = None, full: bool = False,
             on_page: Callable[[int], None] | None = None, retry_rejected: bool = False) -> PlanResult:
        """Start a run and enqueue every changed row of the chosen objects (and, with
        ``retry_rejected``, every row whose last outcome was rejected or failed)."""
        run_id = new_run_id()
        result = PlanResult(run_id)
        self.state.start_run(run_id, mode)
        try:
            for obj in self.config.ordered():  # association targets first: most links then need no wait
                if not obj.enabled or (objects and obj.name not in objects):
                    continue
                plan = self._plan_object(run_id, obj, full, on_page)
                if retry_rejected:
                    self._plan_retries(run_id, obj, plan)
                result.objects.append(plan)
        except BaseException as err:  # an interrupt too: the run must not stay 'running'
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            with contextlib.suppress(Exception):  # the database may be the cause: the original error matters
                self.state.finish_run(run_id, status, error=str(err)[:2000] or type(err).__name__)
            raise
        self.state.set_run_status(run_id, "enqueued")
        if self.state.maybe_finish_run(run_id):  # nothing changed: the run is already complete
            log_event(log, logging.INFO, "run_done", run_id=run_id, status="finished", rows_read=0, batches=0)
        log_event(log, logging.INFO, "plan_done", run_id=run_id, rows_read=result.rows, batches=result.batches)
        return result

    def _plan_object(self, run_id: str, obj: ObjectConfig, full: bool,
                     on_page: Callable[[int], None] | None) -> ObjectPlan:
        source = self.delta_for(obj)
        plan = ObjectPlan(obj.name)
        saved = None if full else self.state.get_position(obj.name)
        problem = position_problem(obj, saved)
        if problem:
            raise ConfigurationError(problem)
        origin = watermark_origin(obj)
        self._reject_unversioned(run_id, obj, source)
        losers: dict[str, str] | None = None
        tail: collections.deque[DeltaRow] = collections.deque()
        changed = self._changed_rows(obj, source) if full else None

        def send(page: list[DeltaRow]) -> None:
            nonlocal losers
            kept = changed(page) if changed else page
            if kept and losers is None:  # only when something changed: one query per unique property
                losers = self._duplicate_losers(obj, source)
            sendable = [r for r in kept if key_to_json(r.key) not in losers] if losers else kept
            if len(sendable) < len(kept):
                self._reject_duplicates(run_id, obj, [r for r in kept if key_to_json(r.key) in losers], losers)
            self._enqueue(run_id, obj, sendable, plan, rows_read=len(page), unchanged=len(page) - len(kept))
            plan.rows += len(page)
            tail.extend(sendable)
            # the rows the next run's overlap may read again: those within the overlap of the newest
            threshold = source.overlap_start(Position(page[-1].version, page[-1].key, origin)).version
            while tail and tail[0].version < threshold:
                tail.popleft()

        if saved is not None and source.overlap_start(saved) != saved:
            # the overlap, read on its own so the delta's pages stay as they were: rows committed
            # late behind a later version; those state already decided at their version are dropped
            for page in source.iter_delta(source.overlap_start(saved), self.config.source.page_size, before=saved):
                unseen = self._drop_seen(obj, page)
                if unseen:
                    send(unseen)
                    if on_page:
                        on_page(len(unseen))
        for page in source.iter_delta(saved, self.config.source.page_size):
            send(page)
            plan.position = Position(page[-1].version, page[-1].key, origin)
            if self.save_positions:  # only once every message of the page is on the queue
                self.state.set_position(obj.name, plan.position)
            if on_page:
                on_page(len(page))
        if tail and self.save_positions:
            # queued rows the next run's overlap will read again are claimed at their version, so that
            # run does not queue them a second time while they wait on the durable queue (a backlog
            # under HubSpot's limits would otherwise grow with every run); older rows are never read
            # again. (A run on the in-process queue ends only once its rows are settled.)
            threshold = source.overlap_start(Position(tail[-1].version, tail[-1].key, origin)).version
            self._claim_tail(run_id, obj, [(key_to_json(r.key), r.version, None) for r in tail
                                           if r.version >= threshold])
        if plan.position is not None and source.resume_point(plan.position) != plan.position:
            plan.position = dataclasses.replace(source.resume_point(plan.position), origin=origin)
            if self.save_positions:
                self.state.set_position(obj.name, plan.position)
        self.state.add_counts(run_id, batches=plan.batches, rejected=plan.too_large)
        log_event(log, logging.INFO, "object_planned", run_id=run_id, object=obj.name, rows_read=plan.rows,
                  batches=plan.batches)
        return plan

    def _enqueue(self, run_id: str, obj: ObjectConfig, rows: list[DeltaRow], plan: ObjectPlan,
                 rows_read: int, unchanged: int = 0) -> None:
        """A page's rows counted and its batches recorded (one transaction), then its messages sent."""
        messages: list[PackedMessage] = []
        for msg, packed in pack_messages(run_id, obj, rows, plan.batches + plan.too_large):
            if msg is None:
                self._reject_unqueueable(run_id, obj, packed[0])
                plan.too_large += 1
            else:
                messages.append(msg)
        self.state.queue_page(obj.name, run_id, rows_read, [(m.batch_id, m.size) for m in messages], unchanged)
        for n, msg in enumerate(messages):
            try:
                self.queue.send(msg.body)
            except Exception as err:
                reason = "message too large" if isinstance(err, MessageTooLarge) else "enqueue failed"
                for unsent in messages[n:]:  # recorded as queued a moment ago: say they never were
                    self.state.batch_finished(unsent.batch_id, "unsent", reason)
                raise
            plan.batches += 1

    def _changed_rows(self, obj: ObjectConfig, source: DeltaSource) -> Callable[[list[DeltaRow]], list[DeltaRow]] | None:
        """For a full re-read: the rows of a page that may need a write. A row is left out, counted
        unchanged, when HubSpot accepted its payload, no newer version is being sent, and its values
        and mapping (the portal's property types included) hash as they did then: it would map to
        the same payload, so neither a message nor the worker's mapping is spent on it. Without the
        portal's schema every row is queued (the worker's payload hash still skips the send)."""
        if self.schema_for is None:
            return None
        try:
            schema = self.schema_for(obj.object_type)
            fingerprint = mapping_fingerprint(obj, schema.types(), schema.pipelines)
        except Exception as err:  # noqa: BLE001 - the skip is an optimisation: without it every row goes
            log_event(log, logging.WARNING, "full_reread_skip_off", object=obj.name, error=first_line(err))
            return None

        def changed(page: list[DeltaRow]) -> list[DeltaRow]:
            rows = source.read_rows([r.key for r in page])
            known = self.state.get_records(obj.name, list(rows))
            kept = []
            for r in page:
                kj = key_to_json(r.key)
                row, st = rows.get(kj), known.get(kj)
                same = (row is not None and row.row is not None and not row.error and st is not None
                        and st.hubspot_id and st.payload_hash and st.source_hash
                        and (st.sending_version or "") <= (st.source_version or "")
                        and st.source_hash == source_hash(fingerprint, row.row))
                if not same:
                    kept.append(r)
            return kept

        return changed

    def _claim_tail(self, run_id: str, obj: ObjectConfig, sends: list[tuple[str, str, None]]) -> None:
        """The claim of the overlap's rows races with workers already sending them: the database may
        pick it as a deadlock's victim. It is tried again, and given up with a warning (the next run
        then queues those rows once more; their sends cost nothing if nothing changed)."""
        for attempt in range(3):
            try:
                self.state.claim_sends(obj.name, sends)
                return
            except SourceUnavailable as err:
                if attempt == 2:
                    log_event(log, logging.WARNING, "overlap_claim_skipped", run_id=run_id, object=obj.name,
                              rows=len(sends), error=first_line(err))

    def _plan_retries(self, run_id: str, obj: ObjectConfig, plan: ObjectPlan) -> None:
        """Queue again the rows that were rejected or failed, e.g. after the mapping was fixed."""
        rows, unrecoverable = [], 0
        for rec in self.state.all_records(obj.name):
            if rec.last_outcome not in ("rejected", "failed"):
                continue
            key = key_from_json(rec.source_key)
            if key is None:
                unrecoverable += 1  # only a hash of a very long key is stored: it cannot be re-read by key
                continue
            rows.append(DeltaRow(key, rec.source_version or ""))
        if unrecoverable:
            # still rejected: counted so the run does not report clean; a change to the row resends it
            self.state.add_counts(run_id, rejected=unrecoverable)
            log_event(log, logging.WARNING, "retries_skipped", run_id=run_id, object=obj.name, rows=unrecoverable,
                      reason="keys longer than 400 characters are stored hashed; change the row to resend it")
        sent = 0
        for msg, _rows in pack_messages(run_id, obj, rows, 0, prefix="retry"):
            if msg is None:
                continue
            self.state.record_batch(msg.batch_id, run_id, obj.name, msg.size)
            self.queue.send(msg.body)
            sent += 1
        plan.batches += sent
        self.state.add_counts(run_id, rows_read=len(rows), batches=sent)
        plan.rows += len(rows)
        log_event(log, logging.INFO, "retries_planned", run_id=run_id, object=obj.name, rows=len(rows))

    def _reject_unversioned(self, run_id: str, obj: ObjectConfig, source: DeltaSource) -> None:
        """Rows whose watermark is NULL can never be read by a delta: each run rejects them, naming
        the fix, so they are counted and listed instead of silently left behind."""
        keys = source.unversioned()
        if not keys:
            return
        reason = (f"watermark column {obj.watermark.column} is NULL, so no delta can see this row: give it a "
                  "value (and the column a NOT NULL default)")
        self.state.save_records(obj.name, [RecordState(key_to_json(k), None, None, None, None, "rejected", reason)
                                           for k in keys], run_id)
        self.state.add_counts(run_id, rows_read=len(keys), rejected=len(keys))
        log_event(log, logging.WARNING, "rows_without_watermark", run_id=run_id, object=obj.name, rows=len(keys))

    def _drop_seen(self, obj: ObjectConfig, page: list[DeltaRow]) -> list[DeltaRow]:
        """The rows of an overlap page that state has neither decided on nor seen claimed for sending at
        the version they have now (a delivery in flight has them)."""
        known = self.state.get_records(obj.name, [key_to_json(r.key) for r in page])
        return [r for r in page if (st := known.get(key_to_json(r.key))) is None
                or r.version not in (st.seen_version, st.sending_version)]

    def _duplicate_losers(self, obj: ObjectConfig, source: DeltaSource) -> dict[str, str]:
        """Rows sharing a unique value with another row of the table, decided before anything is
        sent: the value belongs to the row that holds it in HubSpot already, else to the lowest
        key; every other row is rejected with a reason naming the owner (source key -> reason).
        The worker's claims apply the same rule to what this cannot see."""
        props = [obj.id_property]
        if obj.object_type == "contacts" and "email" in obj.fields and obj.id_property != "email":
            props.append("email")
        losers: dict[str, str] = {}
        pick = max if obj.duplicate_owner == "highest_key" else min
        rule = obj.duplicate_owner.replace("_", " ")
        for prop in props:
            groups = source.match_groups(prop)
            if not groups:
                continue
            held = {v: c for v, c in self.state.holders(obj.object_type, prop, groups).items() if c.held}
            recorded = self.state.owners_of(obj.name, list(groups)) if prop == obj.id_property else {}
            for value, keys in groups.items():
                members = [key_to_json(k) for k in keys]
                owner = ((held[value].object_name, held[value].source_key) if value in held
                         else (obj.name, recorded[value]) if value in recorded
                         else (obj.name, pick(members, key=key_order)))
                for member in members:
                    if (obj.name, member) != owner and member not in losers:
                        losers[member] = (f"{prop} {value!r} is already synced from {describe_owner(obj, owner)}; "
                                          "each HubSpot record can have only one source row (the row that synced "
                                          f"it first keeps it, else the {rule})")
        self.state.release_unheld(obj.object_type, obj.name, losers)
        return losers

    def _reject_duplicates(self, run_id: str, obj: ObjectConfig, rows: list[DeltaRow], losers: dict[str, str]) -> None:
        states = [RecordState(key_to_json(r.key), None, None, None, None, "rejected", losers[key_to_json(r.key)],
                              seen_version=r.version) for r in rows]
        self.state.save_records(obj.name, states, run_id)
        self.state.add_counts(run_id, rejected=len(states))
        for st in states:
            log_event(log, logging.WARNING, "record_rejected", run_id=run_id, object=obj.name,
                      source_key=st.source_key[:80], reason=st.reason)

    def _reject_unqueueable(self, run_id: str, obj: ObjectConfig, row: DeltaRow) -> None:
        kj = key_to_json(row.key)
        reason = "source key too large for a queue message (64 KiB); shorten the key columns"
        self.state.save_records(obj.name, [RecordState(kj, None, None, None, None, "rejected", reason,
                                                       seen_version=row.version)], run_id)
        log_event(log, logging.WARNING, "record_rejected", run_id=run_id, object=obj.name, source_key=kj[:80],
                  reason=reason)
