"""The durable poison store: messages that kept failing, kept until replayed."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import and_, select, update

from shared.state.tables import StateTables, utcnow


def fit(text: Any, length: int) -> Any:
    """Text that fits a column of ``length``: itself, or its start and a hash of all of it."""
    if not isinstance(text, str) or len(text) <= length:
        return text
    digest = "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return text[: length - len(digest)] + digest


class Poison(StateTables):
    def park_poison(self, queue: str, body: str, message_id: str | None, dequeue_count: int | None,
                    batch_id: str | None, error: str | None) -> int:
        c = self.poison.c
        batch_id, message_id, queue = (fit(v, col.type.length) for v, col in  # a hostile message's ids can be long
                                       ((batch_id, c.batch_id), (message_id, c.message_id), (queue, c.queue)))
        with self._begin() as conn:
            if message_id is not None:  # delivered again after its park (the host died before deleting it)
                earlier = conn.execute(select(c.id, c.body).where(and_(
                    c.queue == queue, c.message_id == message_id))).all()
                same = [row.id for row in earlier if row.body == body]
                if same:
                    return int(same[0])
            result = conn.execute(
                self.poison.insert().values(
                    queue=queue, message_id=message_id, batch_id=batch_id, body=body,
                    dequeue_count=dequeue_count, error=error, status="parked", received_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])

    def list_poison(self, status: str | None = "parked") -> list[dict[str, Any]]:
        stmt = select(self.poison).order_by(self.poison.c.id)
        if status:
            stmt = stmt.where(self.poison.c.status == status)
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]

    def update_poison_error(self, poison_id: int, error: str) -> None:
        with self._begin() as conn:
            conn.execute(update(self.poison).where(self.poison.c.id == poison_id).values(error=error))

    def mark_replayed(self, poison_id: int) -> None:
        with self._begin() as conn:
            conn.execute(
                update(self.poison).where(self.poison.c.id == poison_id).values(status="replayed", replayed_at=utcnow())
            )
