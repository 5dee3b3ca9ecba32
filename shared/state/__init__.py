"""hubsync's own state, kept in the source database: one module per concern, one facade.

``StateStore`` is what the planner, the worker, the queue handler and the CLI use; it is safe
to share between threads. Its parts: ``tables`` (definitions, DDL, checks), ``watermarks``,
``runs`` (runs and batches), ``records``, ``claims``, ``associations`` and ``poison``.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.state.associations import Associations, LinkState
from shared.state.claims import Claim, Claims
from shared.state.poison import Poison
from shared.state.records import Records, RecordState
from shared.state.runs import Runs, run_seconds
from shared.state.tables import COUNTERS, build_metadata, utcnow
from shared.state.watermarks import Watermarks


class StateStore(Watermarks, Runs, Records, Claims, Associations, Poison):
    """Reads and writes hubsync's state tables."""

    def queue_page(self, object_name: str, run_id: str, rows_read: int, batches: Sequence[tuple[str, int]],
                   unchanged: int = 0) -> None:
        """Before a page's messages go on the queue, in one transaction: its rows counted as read
        (and those a full re-read found unchanged as such) and its batches recorded as queued."""
        now = utcnow()
        with self._begin() as conn:
            self._count(conn, run_id, {"rows_read": rows_read, "unchanged": unchanged})
            if batches:
                conn.execute(self.batches.insert(), [
                    {"batch_id": batch_id, "run_id": run_id, "object_name": object_name, "size": size,
                     "status": "queued", "attempts": 0, "updated_at": now} for batch_id, size in batches])


__all__ = ["COUNTERS", "Claim", "LinkState", "RecordState", "StateStore", "build_metadata", "run_seconds", "utcnow"]
