"""What a delta source is: where the planner gets changed rows from.

``WatermarkDelta`` (``shared.source.sql_reader``) is the one implementation today: rows whose
watermark column moved past the saved position. SQL Server Change Tracking, with deletes,
is the next; it implements the same protocol, and the planner does not change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.keys import Key, Position


@dataclass(frozen=True)
class DeltaRow:
    key: Key
    version: str
    row: Mapping[str, Any] | None = None
    error: str | None = None  # the row exists but its values could not be read


class DeltaSource(Protocol):
    """Changed rows of one configured object, in a stable order, page by page."""

    def iter_delta(self, after: Position | None, page_size: int, full_rows: bool = False,
                   before: Position | None = None) -> Iterator[list[DeltaRow]]:
        """Pages of rows changed after ``after`` (everything when None), and below ``before``'s
        version when given; a page is never empty."""
        ...

    def overlap_start(self, saved: Position) -> Position:
        """Where a run starts reading, at or before the saved position: rows committed late behind
        a later one are read again there (state already knowing a row at its version skips it)."""
        ...

    def resume_point(self, last: Position) -> Position:
        """Where the next run starts once a delta was read to its end at ``last``."""
        ...

    def unversioned(self, limit: int = 1000) -> list[Key]:
        """Keys of rows the delta can never see (a NULL watermark), to reject them with a reason."""
        ...

    def read_rows(self, keys: Sequence[Key]) -> dict[str, DeltaRow]:
        """The current full rows of ``keys`` (by their key's JSON); an unreadable row comes back
        with ``error``, a deleted one is absent."""
        ...

    def match_groups(self, prop: str) -> dict[str, list[Key]] | None:
        """Rows of the whole table sharing a value of the mapped property ``prop`` (value -> keys),
        so the planner can decide who owns it before anything is sent; None when unknown."""
        ...
