"""The worker: one queue message (one batch of source keys) into HubSpot.

For each key it re-reads the current row, maps and validates it against the portal's
property definitions, and skips it when its payload hashes to what HubSpot last accepted.
Records HubSpot already knows (a stored id) are updated by id, so a changed email never
creates a second contact; the others are upserted by the configured ``id_property``.
When HubSpot refuses a whole batch for one bad input, the batch is split in halves until the
bad record is isolated and rejected with HubSpot's reason; the rest goes on.

Progress is saved after every HubSpot call, so a retried message resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.config import ObjectConfig, SyncConfig
from shared.errors import (
    BatchValidationError,
    ConfigurationError,
    MalformedMessage,
    RetryableError,
)
from shared.hubspot.error_handler import explain_rejection, invalid_properties
from shared.hubspot.hubspot_writer import HubSpotWriter, WriteResult
from shared.hubspot.schema_cache import SchemaCache
from shared.keys import key_to_json
from shared.mapping.field_mapper import match_value
from shared.queue.messages import BatchMessage
from shared.source.delta import DeltaRow
from shared.source.table import TableCache
from shared.state import COUNTERS, Claim, RecordState, StateStore, run_seconds
from shared.sync.assessment import (
    BatchCounts,
    Candidate,
    assess,
    pick_owners,
    slots_of,
    unique_properties,
)
from shared.sync.linker import Linker
from shared.sync_logger import log_event

log = logging.getLogger("hubsync.worker")


def log_run_done(state: StateStore, run_id: str) -> None:
    run = state.get_run(run_id) or {}
    counts = {k: run.get(k) for k in COUNTERS}
    seconds = run_seconds(run)
    timing = {} if seconds is None else {
        "duration_s": round(seconds, 1), "rows_per_s": round((run.get("rows_read") or 0) / max(seconds, 0.001), 1)}
    log_event(log, logging.INFO, "run_done", run_id=run_id, status=run.get("status"), **counts, **timing)


@dataclass
class Worker:
    config: SyncConfig
    state: StateStore
    writer: HubSpotWriter
    sources: TableCache
    schemas: SchemaCache
    on_done: Callable[[BatchMessage, BatchCounts], None] | None = field(default=None)
    linker: Linker | None = field(default=None)
    _started: dict[str, dt.datetime | None] = field(default_factory=dict, repr=False)

    def run_started(self, run_id: str) -> dt.datetime | None:
        """When a run began (UTC), from state, remembered per run."""
        if run_id not in self._started:
            run = self.state.get_run(run_id)
            started = run["started_at"] if run else None
            self._started[run_id] = started.replace(tzinfo=dt.UTC) if started else None
        return self._started[run_id]

    def process(self, msg: BatchMessage) -> BatchCounts:
        """Sync one batch; raises RetryableError/ConfigurationError for the queue to retry."""
        try:
            obj = self.config.object(msg.object)
        except ConfigurationError:
            raise MalformedMessage(f"message names object {msg.object!r}, which the configuration does not have") from None
        step = SEND_STEPS.get(msg.kind)
        if step is None:
            raise MalformedMessage(f"message kind {msg.kind!r} has no send step in this worker")
        calls_before = self.writer.calls_in_thread()
        run = step(self, obj, msg)
        try:
            run.execute()
        except BaseException:  # calls made by a failed attempt count too: they spent HubSpot's budget
            self.state.rollback_held()
            run.counts.api_calls = self.writer.calls_in_thread() - calls_before
            self.state.add_counts(msg.run_id, api_calls=run.counts.api_calls)
            raise
        run.counts.api_calls = self.writer.calls_in_thread() - calls_before
        try:  # the end of the batch joins what the last answer settled: one commit for both
            finished = self.state.batch_done(msg.run_id, msg.batch_id, run.counts.api_calls)
            self.state.commit_held()
        except BaseException:
            self.state.rollback_held()
            raise
        if finished:
            self._sweep_links(msg.run_id)
            log_run_done(self.state, msg.run_id)
        log_event(log, logging.INFO, "batch_done", run_id=msg.run_id, object=obj.name, batch_id=msg.batch_id,
                  **run.counts.as_dict())
        if self.on_done:
            self.on_done(msg, run.counts)
        return run.counts


    def _sweep_links(self, run_id: str) -> None:
        """The run's last batch: make the links still pending whose target has an id by now (its
        batch wrote it while a linking batch was looking it up). A failure here leaves them
        pending for the next run's sweep; the run is done either way."""
        if self.linker is None:
            return
        calls_before = self.writer.calls_in_thread()
        try:
            counts = self.linker.sweep(run_id)
        except Exception as err:  # noqa: BLE001 - pending links stay state: the next sweep makes them
            self.state.rollback_held()
            log_event(log, logging.WARNING, "link_sweep_failed", run_id=run_id, error=str(err)[:300])
            return
        finally:
            calls = self.writer.calls_in_thread() - calls_before
        with self.state.transaction():
            self.state.add_counts(run_id, linked=counts.linked, api_calls=calls)
        self.state.commit_held()
        if counts.linked or counts.failed:
            log_event(log, logging.INFO, "links_swept", run_id=run_id, linked=counts.linked, failed=counts.failed)


_COUNTED = {"created": "created", "updated": "updated", "adopted": "adopted", "unchanged": "unchanged",
            "rejected": "rejected", "missing": "missing"}
MAX_PASSES = 3


class BatchStep:
    """One delivery of one message: what it settled, counted once per run however often the
    message is delivered. A message kind's send step subclasses it and implements ``execute``."""

    def __init__(self, worker: Worker, obj: ObjectConfig, msg: BatchMessage) -> None:
        self.w = worker
        self.obj = obj
        self.msg = msg
        self.counts = BatchCounts()
        self.prior: dict[str, RecordState] = {}
        self.refused: set[str] = set()
        self.props: list[str] = []  # the unique properties this object's rows claim
        self.rows: dict[str, DeltaRow] = {}  # the rows read, by source key (their foreign keys link them)

    def save(self, states: list[RecordState]) -> None:
        """Record outcomes and count them once per run, however often the batch is delivered."""
        if not states:
            return
        rejected = [st.source_key for st in states if st.last_outcome == "rejected"]
        if rejected:  # what a rejected row only asked for is free again
            self.w.state.release_unheld(self.obj.object_type, self.obj.name, rejected)
        counts: dict[str, int] = {}

        def count(refused: set[str]) -> dict[str, int]:  # inside the transaction that saves the records
            for st in states:
                if st.source_key in refused:
                    continue
                before = self.prior.get(st.source_key)
                if before is not None and before.run_id == self.msg.run_id:
                    if before.last_outcome != "failed":
                        continue  # already counted by an earlier delivery of this batch
                    counts["failed"] = counts.get("failed", 0) - 1  # a replayed batch now succeeds
                name = _COUNTED[st.last_outcome]
                counts[name] = counts.get(name, 0) + 1
                self.prior[st.source_key] = RecordState(st.source_key, st.hubspot_id, st.id_value, st.payload_hash,
                                                        st.source_version, st.last_outcome, st.reason, self.msg.run_id)
            return counts

        # the records and the run's counters in one transaction: a crash between them cannot lose a count
        self.refused.update(self.w.state.save_records(self.obj.name, states, self.msg.run_id, count=count))
        for name, n in counts.items():
            setattr(self.counts, name, getattr(self.counts, name) + n)

    def reject(self, c: Candidate, reason: str) -> RecordState:
        self.log_rejection(c.source_key, reason)
        return RecordState(c.source_key, None, None, None, None, "rejected", reason, seen_version=c.mapped.version)

    def log_rejection(self, source_key: str, reason: str) -> None:
        log_event(log, logging.WARNING, "record_rejected", run_id=self.msg.run_id, object=self.obj.name,
                  batch_id=self.msg.batch_id, source_key=source_key, reason=reason)

    def execute(self) -> None:
        raise NotImplementedError


class UpsertBatch(BatchStep):
    """Create or update each key's record: by its HubSpot id when known, else by ``id_property``."""

    def execute(self) -> None:
        source = self.w.sources.get(self.obj)
        keys = list({key_to_json(k.k): source.typed_key(tuple(k.k)) for k in self.msg.keys}.items())
        for _ in range(MAX_PASSES):
            self._pass(keys)
            if not self.refused:
                self._link()
                return
            # another delivery recorded a newer version while this one was sending: HubSpot may now
            # hold this (older) payload, so forget its hash and sync those rows again from SQL
            for key in self.refused:
                self.w.state.forget_hash(self.obj.name, key)
            keys = [(kj, k) for kj, k in keys if kj in self.refused]
            self.refused = set()
        raise RetryableError(f"rows {sorted(k for k, _ in keys)[:5]} kept changing while being sent; retrying")

    def _pass(self, keys: list[tuple[str, tuple[Any, ...]]]) -> None:
        obj = self.obj
        source = self.w.sources.get(obj)
        self.w.state.commit_held()  # a later pass: what the last one settled, before any call
        schema = self.w.schemas.get(obj.object_type)
        key_jsons = [kj for kj, _ in keys]
        rows = source.read_rows([k for _, k in keys])
        self.rows.update(rows)
        known = self.w.state.get_records(obj.name, key_jsons)
        self.prior.update(known)

        settled, _tally, candidates = assess(obj, schema, key_jsons, rows, known)
        for st in settled:
            if st.last_outcome == "rejected":
                self.log_rejection(st.source_key, st.reason or "")
        candidates = self._find_lost_writes(candidates, known)  # a HubSpot read: before the transaction
        with self.w.state.transaction():  # what the batch decided before sending: one commit
            candidates = self._claim(candidates, settled, unique_properties(obj, schema))
            self.save(settled)
            candidates = self._claim_sends(candidates)

        updates = [c for c in candidates if c.hubspot_id]
        upserts = [c for c in candidates if not c.hubspot_id]
        gone = self._send(updates, BY_ID)
        for c in gone:
            c.hubspot_id = None  # deleted or merged in HubSpot: match again by id_property
        self._send(upserts + gone, obj.id_property)

    def _link(self) -> None:
        """The batch's rows are written: their associations, and the links of other objects' rows
        that waited for these rows' HubSpot ids (shared/sync/linker.py)."""
        linker, obj = self.w.linker, self.obj
        if linker is None:
            return
        targeted = any(a.to == obj.name for o in self.w.config.objects for a in o.associations)
        if not obj.associations and not targeted:
            return
        ids = {k: st.hubspot_id for k, st in self.w.state.get_records(obj.name, sorted(self.rows)).items()
               if st.hubspot_id}
        counts = linker.link_rows(obj, self.msg.run_id, self.rows, ids)
        counts.add(linker.link_targets(obj, self.msg.run_id, ids))
        with self.w.state.transaction(keep_open=True):  # committed with the end of the batch
            self.w.state.add_counts(self.msg.run_id, linked=counts.linked, unlinked=counts.unlinked)
        self.counts.linked += counts.linked
        self.counts.unlinked += counts.unlinked
        self.counts.link_pending += counts.pending
        self.counts.link_failed += counts.failed

    def _find_lost_writes(self, candidates: list[Candidate], known: dict[str, RecordState]) -> list[Candidate]:
        """A row state knows no HubSpot id for, but that an earlier delivery claimed to send under
        another id value (it crashed, or its answer was lost, before saving): that write may have
        made a record. Find it by the value it was sent under and update it, so a changed email
        never leaves a second contact (one batch read, only in this case)."""
        obj = self.obj
        lost = {c.source_key: known[c.source_key].sending_value for c in candidates
                if not c.hubspot_id and c.source_key in known and known[c.source_key].sending_value
                and known[c.source_key].sending_value != c.mapped.properties.get(obj.id_property)}
        if not lost:
            return candidates
        self.w.state.commit_held()
        found = self.w.writer.read(obj.object_type, sorted({v for v in lost.values() if v}), [obj.id_property],
                                   id_property=obj.id_property)
        for c in candidates:
            hit = found.get(match_value(obj.object_type, obj.id_property, lost.get(c.source_key) or ""))
            if hit is not None:
                c.hubspot_id = str(hit["id"])
                log_event(log, logging.WARNING, "lost_write_found", run_id=self.msg.run_id, object=obj.name,
                          batch_id=self.msg.batch_id, source_key=c.source_key, hubspot_id=c.hubspot_id)
        return candidates

    def _claim_sends(self, candidates: list[Candidate]) -> list[Candidate]:
        """Record, before sending, the version each row sends; a row a newer delivery already
        claimed is left to that delivery (an older payload never lands last unnoticed)."""
        obj = self.obj
        older = self.w.state.claim_sends(obj.name, [(c.source_key, c.mapped.version,
                                                     c.mapped.properties.get(obj.id_property) or "")
                                                    for c in candidates])
        if older:
            self.w.state.add_counts(self.msg.run_id, unchanged=len(older))
            self.counts.unchanged += len(older)
            log_event(log, logging.INFO, "older_version_skipped", run_id=self.msg.run_id, object=obj.name,
                      batch_id=self.msg.batch_id, rows=len(older))
        return [c for c in candidates if c.source_key not in older]

    def _claim(self, candidates: list[Candidate], settled: list[RecordState], props: list[str]) -> list[Candidate]:
        """Claim every unique value a candidate will send; a value another row holds or claimed
        first rejects this row, without a HubSpot call (shared/state/claims.py)."""
        obj, state = self.obj, self.w.state
        self.props = props
        recorded = state.owners_of(obj.name, [c.norm_id for c in candidates])  # synced before claims existed
        owners = {(obj.id_property, value): (obj.name, key) for value, key in recorded.items()}
        kept, duplicates = pick_owners(obj, props, candidates, owners)
        conflicts = state.claim(obj.object_type, [Claim(p, v, obj.name, c.source_key)
                                                  for c in kept for p, v in slots_of(obj, props, c)])
        if conflicts:
            kept, lost = pick_owners(obj, props, kept, {slot: (cl.object_name, cl.source_key)
                                                        for slot, cl in conflicts.items()})
            duplicates += lost
        state.release_unheld(obj.object_type, obj.name, [c.source_key for c, _ in duplicates])
        settled.extend(self.reject(c, reason) for c, reason in duplicates)
        return kept

    def _send(self, items: list[Candidate], via: str) -> list[Candidate]:
        """Send in chunks of at most one HubSpot batch; returns records whose HubSpot id no longer
        exists (updates by id only)."""
        gone: list[Candidate] = []
        size = self.obj.batch_size
        for start in range(0, len(items), size):
            gone += self._send_chunk(items[start:start + size], via, frozenset())
        return gone

    def _send_chunk(self, chunk: list[Candidate], via: str, tried: frozenset[str]) -> list[Candidate]:
        """One call: an update by record id (``via`` BY_ID) or an upsert matched on the property
        ``via``. A conflict HubSpot names is resolved with one more call; any other refusal of
        the whole batch is split in halves until the bad record is isolated."""
        if not chunk:
            return []
        writer, obj = self.w.writer, self.obj
        self.w.state.commit_held()  # never hold state open across a HubSpot call; claims are durable first
        if via == obj.id_property and obj.on_existing == "reject" and not tried:
            chunk = self._refuse_existing(chunk, via)
            if not chunk:
                return []
        try:
            if via == BY_ID:
                results, missing = writer.update(
                    obj.object_type, [(c.hubspot_id or "", c.mapped.properties) for c in chunk], obj.id_property)
            else:
                results = writer.upsert(obj.object_type, via, [(c.mapped.properties[via], c.mapped.properties)
                                                               for c in chunk])
                missing = set()
        except BatchValidationError as err:
            prop = self._conflict_property(err, via, tried)
            if prop is not None:
                return self._resolve_conflict(chunk, via, prop, tried)
            suspects = self._suspects(chunk, err) if DETAIL not in tried else []
            if 0 < len(suspects) < len(chunk):
                # HubSpot named the bad values: the rest goes in one call, each suspect alone
                rest = [c for c in chunk if c not in suspects]
                tried = tried | {DETAIL}
                return [gone for part in [rest, *([s] for s in suspects)] for gone in self._send_chunk(part, via, tried)]
            if len(chunk) == 1:
                self.save([self.reject(chunk[0], explain_rejection(str(err)))])
                return []
            middle = len(chunk) // 2
            return self._send_chunk(chunk[:middle], via, tried) + self._send_chunk(chunk[middle:], via, tried)
        self._record(chunk, results, via, missing)
        return [c for c in chunk if c.hubspot_id in missing]

    @staticmethod
    def _suspects(chunk: list[Candidate], err: BatchValidationError) -> list[Candidate]:
        """The inputs whose value HubSpot's validation message quotes (it does not say which input)."""
        named = invalid_properties(str(err))
        return [c for c in chunk if any(len(value := c.mapped.properties.get(prop) or "") >= 3 and value in message
                                        for prop, message in named)]

    def _conflict_property(self, err: BatchValidationError, via: str, tried: frozenset[str]) -> str | None:
        """The unique property of a record HubSpot says already exists, when it can be acted on:
        a contact's email ("Contact already exists. Existing ID: N"), or the property a custom
        unique value's conflict names."""
        if via == BY_ID or err.category != "CONFLICT" or err.existing_id is None:
            return None
        prop = err.conflict_property or ("email" if self.obj.object_type == "contacts" else None)
        if prop is None or prop == via or prop in tried or prop not in self.obj.fields:
            return None
        return prop

    def _resolve_conflict(self, chunk: list[Candidate], via: str, prop: str, tried: frozenset[str]) -> list[Candidate]:
        """Records holding some of the chunk's ``prop`` values exist in HubSpot already (a form, an
        import, a person made them). ``on_existing: adopt`` sends the rows that have a ``prop``
        value matched on it, so HubSpot writes them onto the existing records (one call, however
        many conflict); ``reject`` reads which exist (one call) and rejects those rows. The rest
        is sent as before."""
        having = [c for c in chunk if c.mapped.properties.get(prop)]
        rest = [c for c in chunk if not c.mapped.properties.get(prop)]
        log_event(log, logging.INFO, "existing_records", run_id=self.msg.run_id, object=self.obj.name,
                  batch_id=self.msg.batch_id, property=prop, action=self.obj.on_existing, rows=len(having))
        if self.obj.on_existing == "reject":
            return self._send_chunk(self._refuse_existing(having, prop) + rest, via, tried | {prop})
        return self._send_chunk(having, prop, tried | {via}) + self._send_chunk(rest, via, tried | {prop})

    def _refuse_existing(self, chunk: list[Candidate], prop: str) -> list[Candidate]:
        """``on_existing: reject``: the rows whose ``prop`` value a HubSpot record already holds are
        rejected (one batch read); the others are returned."""
        values = [c.mapped.properties[prop] for c in chunk if c.mapped.properties.get(prop)]
        self.w.state.commit_held()
        found = self.w.writer.read(self.obj.object_type, values, [prop], id_property=prop) if values else {}
        kept, refused = [], []
        for c in chunk:
            hit = found.get(match_value(self.obj.object_type, prop, c.mapped.properties.get(prop) or ""))
            if hit is None:
                kept.append(c)
            else:
                refused.append(self.reject(c, (
                    f"a {self.obj.object_type} record with {prop} {c.mapped.properties[prop]!r} already exists in "
                    f"HubSpot (id {hit['id']}) and on_existing is reject: merge it by hand, or set on_existing: adopt")))
        self.save(refused)
        return kept

    def _record(self, chunk: list[Candidate], results: list[WriteResult], via: str, missing: set[str]) -> None:
        if via == BY_ID:
            by_key = {r.hubspot_id: r for r in results}
            matched = [(c, by_key.get(c.hubspot_id or "")) for c in chunk]
        else:
            kind = self.obj.object_type
            by_key = {match_value(kind, via, r.id_value or ""): r for r in results}
            matched = [(c, by_key.get(match_value(kind, via, c.mapped.properties[via]))) for c in chunk]
        states, lost = [], []
        for c, result in matched:
            if result is None:
                if via != BY_ID or c.hubspot_id not in missing:
                    lost.append(c.source_key)
                continue  # an update by id whose record is gone: retried by upsert
            outcome = "updated" if via == BY_ID else "created" if result.new else "updated"
            earlier = self.prior.get(c.source_key)
            ours = earlier is not None and earlier.sending_value is not None  # a lost answer of our own write
            if outcome == "updated" and via != BY_ID and not c.hubspot_id:
                before_run = self._made_before_this_run(result)
                if not ours and before_run:
                    outcome = "adopted"
                elif ours and not before_run:
                    outcome = "created"  # an earlier delivery of this run made it; its answer was lost
            if outcome == "adopted":
                log_event(log, logging.INFO, "record_adopted", run_id=self.msg.run_id, object=self.obj.name,
                          batch_id=self.msg.batch_id, source_key=c.source_key, hubspot_id=result.hubspot_id)
            states.append(RecordState(c.source_key, result.hubspot_id, c.norm_id, c.mapped.payload_hash,
                                      c.mapped.version, outcome, seen_version=c.mapped.version,
                                      source_hash=c.source_hash))
        with self.w.state.transaction(keep_open=True):  # what HubSpot's answer settled, committed with what follows
            self.save(states)
            self.w.state.hold(self.obj.object_type, self.obj.name,
                              {c.source_key: slots_of(self.obj, self.props, c) for c, result in matched if result is not None})
            # a newer version claimed while this one was in flight: this write may have landed after it
            self.refused.update(self.w.state.newer_sends(
                self.obj.name, {c.source_key: c.mapped.version for c, result in matched if result is not None}))
        if lost:
            raise RetryableError(f"HubSpot's answer left out {len(lost)} input(s) ({', '.join(lost[:5])}); "
                                 "retrying the batch")


    def _made_before_this_run(self, result: WriteResult) -> bool:
        """A record matched by value was made outside this sync (adopted), not by an earlier delivery
        of this run whose answer was lost: HubSpot made it before the run began."""
        started = self.w.run_started(self.msg.run_id)
        return started is None or result.created_at is None or result.created_at < started


BY_ID = ""  # ``via`` of an update by HubSpot record id, not matched on a property
DETAIL = "\0detail"  # in ``tried``: HubSpot's validation detail was used once for this chunk


# A message's ``kind`` picks its send step (archive and associate come later).
SEND_STEPS: dict[str, type[BatchStep]] = {"upsert": UpsertBatch}
