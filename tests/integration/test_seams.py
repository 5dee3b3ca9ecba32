"""The seams the next issues build on, each exercised with a second implementation written here:
a delta source (Change Tracking will be one), a rate budget (a budget shared by every instance
will be one). If the planner or the writer reached past the protocol, these would break."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import pytest
import sqlalchemy as sa

from shared.keys import Position, encode_version
from shared.queue.backends import MemoryQueue
from shared.queue.messages import BatchMessage
from shared.source.delta import DeltaRow
from shared.state import StateStore
from shared.sync.planner import Planner
from tests.regressions.helpers import make_runtime
from tests.support import config_for, create_customers

pytestmark = pytest.mark.integration


class ListDelta:
    """A DeltaSource over a Python list: rows with integer versions, resuming at version + 1000."""

    def __init__(self, rows: list[DeltaRow]) -> None:
        self.rows = rows
        self.asked: list[Position | None] = []

    def iter_delta(self, after: Position | None, page_size: int, full_rows: bool = False,
                   before: Position | None = None) -> Iterator[list[DeltaRow]]:
        self.asked.append(after)
        todo = [r for r in self.rows if after is None or r.version > after.version]
        for start in range(0, len(todo), page_size):
            yield todo[start:start + page_size]

    def resume_point(self, last: Position) -> Position:
        return Position(encode_version("integer", int(last.version) + 1000), None)

    def overlap_start(self, saved: Position) -> Position:
        return saved  # versions from a list are never taken out of order

    def unversioned(self, limit: int = 1000) -> list:
        return []

    def match_groups(self, prop: str) -> None:
        return None  # this source cannot tell which rows share a value; the worker's claims still can


def test_the_planner_takes_any_delta_source_and_saves_its_resume_point(tmp_path) -> None:
    config = config_for()
    state = StateStore(sa.create_engine(f"sqlite:///{tmp_path / 's.db'}"), None)
    state.init_db()
    queue = MemoryQueue("q")
    rows = [DeltaRow((i,), encode_version("integer", i)) for i in range(1, 251)]
    delta = ListDelta(rows)

    result = Planner(config, state, queue, lambda obj: delta, save_positions=True).plan("test")

    bodies = [BatchMessage.from_json(b) for b in queue.peek_all()]
    assert [k.k for m in bodies for k in m.keys] == [[i] for i in range(1, 251)]
    assert result.rows == 250 and result.batches == len(bodies) == 4  # pages of 137 and 113 rows: 100+37, 100+13
    origin = "customers.row_version (integer)"  # what the versions are versions of
    assert state.get_position("contacts") == Position(encode_version("integer", 1250), None, origin)
    Planner(config, state, queue, lambda obj: delta, save_positions=True).plan("test")
    assert delta.asked[-1] == Position(encode_version("integer", 1250), None, origin)


class CountingBudget:
    """A RateBudget that lets everything through and counts what it was asked and told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acquired = 0
        self.observed: list[Mapping[str, str]] = []
        self.paused: list[float] = []

    def acquire(self) -> None:
        with self.lock:
            self.acquired += 1

    def pause(self, seconds: float) -> None:
        self.paused.append(seconds)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        self.observed.append(dict(headers or {}))


def test_the_writer_asks_whatever_budget_it_is_given_before_every_call(tmp_path, emulator) -> None:
    from shared.sync.run import run_sync

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    create_customers(engine, 150)
    rt = make_runtime(engine, emulator)
    budget = CountingBudget()
    rt.writer.budget = budget
    emulator.inject_fault(429, times=1, path_contains="batch/upsert")

    result = run_sync(rt, workers=2, base_backoff=0.01)

    assert result.run["created"] + result.run["rejected"] == 150 and result.run["created"] > 140
    assert budget.acquired == rt.writer.api_calls >= 3  # schema + two batches, and the 429's retry
    assert budget.paused and budget.paused[0] > 0  # the 429 held the budget back
    assert any("x-hubspot-ratelimit-remaining" in {k.lower() for k in h} for h in budget.observed)
