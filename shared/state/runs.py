"""Runs (history and counters) and their queued batches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, update

from shared.redaction import scrub_secrets
from shared.state.tables import COUNTERS, StateTables, utcnow


def run_seconds(run: dict[str, Any]) -> float | None:
    """How long a finished run took, from its row (None while it runs)."""
    started, finished = run.get("started_at"), run.get("finished_at")
    if started is None or finished is None:
        return None
    return max(0.0, (finished - started).total_seconds())


class Runs(StateTables):
    def start_run(self, run_id: str, mode: str) -> None:
        with self._begin() as conn:
            conn.execute(
                self.runs.insert().values(
                    run_id=run_id, mode=mode, status="running", started_at=utcnow(),
                    **{c: 0 for c in COUNTERS},
                )
            )

    def add_counts(self, run_id: str, **counts: int) -> None:
        counts = {k: v for k, v in counts.items() if v}
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        if not counts:
            return
        with self._begin() as conn:
            self._count(conn, run_id, counts)

    def batch_done(self, run_id: str, batch_id: str, api_calls: int) -> bool:
        """One transaction at the end of a delivered batch: its calls counted, the batch marked
        done, and the run closed when it was the last one open. True when the run finished."""
        with self._begin() as conn:
            self._count(conn, run_id, {"api_calls": api_calls})
            conn.execute(update(self.batches).where(self.batches.c.batch_id == batch_id)
                         .values(status="done", last_error=None, attempts=self.batches.c.attempts + 1,
                                 updated_at=utcnow()))
            return self._finish_if_done(conn, run_id)

    def set_run_status(self, run_id: str, status: str) -> None:
        with self._begin() as conn:
            conn.execute(update(self.runs).where(self.runs.c.run_id == run_id).values(status=status))

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        error = scrub_secrets(error) if error else error
        with self._begin() as conn:
            conn.execute(
                update(self.runs)
                .where(self.runs.c.run_id == run_id)
                .values(status=status, finished_at=utcnow(), error=error)
            )

    def abandon_runs(self, reason: str) -> list[str]:
        """Close runs still marked running or enqueued whose process ended with its in-process queue
        (a killed ``hubsync run``): nothing can deliver their batches any more. Returns their ids."""
        with self._begin() as conn:
            stale = list(conn.execute(select(self.runs.c.run_id).where(
                self.runs.c.status.in_(("running", "enqueued")))).scalars())
            if stale:
                conn.execute(update(self.runs).where(self.runs.c.run_id.in_(stale))
                             .values(status="abandoned", finished_at=utcnow(), error=reason))
                conn.execute(update(self.batches).where(and_(self.batches.c.run_id.in_(stale),
                                                             self.batches.c.status == "queued"))
                             .values(status="abandoned", updated_at=utcnow()))
        return stale

    def maybe_finish_run(self, run_id: str) -> bool:
        """Close a fully enqueued run once none of its batches is still open."""
        with self._begin() as conn:
            return self._finish_if_done(conn, run_id)

    def _finish_if_done(self, conn: Any, run_id: str) -> bool:
        """Close the run when no batch of it is open, as the last statement of the caller's
        transaction. The run's row is locked first: two workers finishing the last two batches at
        once each see the other's batch still open until it commits, so the second waits here
        for the first and then sees both done (without the lock neither would close the run)."""
        self._lock_run(conn, run_id)
        b = self.batches.c
        open_batches = (
            select(func.count()).select_from(self.batches)
            .where(and_(b.run_id == run_id, b.status.in_(("queued", "failed"))))
            .scalar_subquery()
        )
        done = conn.execute(
            update(self.runs)
            .where(and_(self.runs.c.run_id == run_id, self.runs.c.status == "enqueued", open_batches == 0))
            .values(status="finished", finished_at=utcnow())
        ).rowcount
        return bool(done)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(select(self.runs).where(self.runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                select(self.runs).order_by(self.runs.c.started_at.desc()).limit(limit)
            ).mappings().all()
        return [dict(r) for r in rows]

    # -- batches --

    def record_batch(self, batch_id: str, run_id: str, object_name: str, size: int) -> None:
        with self._begin() as conn:
            conn.execute(
                self.batches.insert().values(
                    batch_id=batch_id, run_id=run_id, object_name=object_name, size=size,
                    status="queued", attempts=0, updated_at=utcnow(),
                )
            )

    def batch_finished(self, batch_id: str, status: str, error: str | None = None) -> None:
        with self._begin() as conn:
            conn.execute(
                update(self.batches)
                .where(self.batches.c.batch_id == batch_id)
                .values(status=status, last_error=error, attempts=self.batches.c.attempts + 1, updated_at=utcnow())
            )

    def batch_error(self, batch_id: str) -> str | None:
        with self._connect() as conn:
            return conn.execute(
                select(self.batches.c.last_error).where(self.batches.c.batch_id == batch_id)
            ).scalar_one_or_none()

    def open_batches(self, run_id: str) -> int:
        with self._connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(self.batches)
                .where(and_(self.batches.c.run_id == run_id, self.batches.c.status.in_(("queued", "failed"))))
            ).scalar_one()
