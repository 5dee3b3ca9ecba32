"""hubsync's own state, kept in the source database: one module per concern, one facade.

``StateStore`` is what the planner, the worker, the queue handler and the CLI use; it is safe
to share between threads. Its parts: ``tables`` (definitions, DDL, checks), ``watermarks``,
``runs`` (runs and batches), ``records``, ``claims`` and ``poison``.
"""

from __future__ import annotations

from shared.state.claims import Claim, Claims
from shared.state.poison import Poison
from shared.state.records import Records, RecordState
from shared.state.runs import Runs, run_seconds
from shared.state.tables import COUNTERS, build_metadata, utcnow
from shared.state.watermarks import Watermarks


class StateStore(Watermarks, Runs, Records, Claims, Poison):
    """Reads and writes hubsync's state tables."""


__all__ = ["COUNTERS", "Claim", "RecordState", "StateStore", "build_metadata", "run_seconds", "utcnow"]
