"""Where each object's next delta starts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from shared.keys import Position
from shared.state.tables import StateTables, utcnow


class Watermarks(StateTables):
    def get_position(self, object_name: str) -> Position | None:
        with self._connect() as conn:
            text = conn.execute(
                select(self.watermarks.c.position).where(self.watermarks.c.object_name == object_name)
            ).scalar_one_or_none()
        return Position.from_json(text) if text else None

    def set_position(self, object_name: str, position: Position) -> None:
        with self._begin() as conn:
            self._set_position(conn, object_name, position)

    def _set_position(self, conn: Any, object_name: str, position: Position) -> None:
        values = {"position": position.to_json(), "updated_at": utcnow()}
        done = conn.execute(
            update(self.watermarks).where(self.watermarks.c.object_name == object_name).values(**values)
        ).rowcount
        if not done:
            conn.execute(self.watermarks.insert().values(object_name=object_name, **values))

    def reset_position(self, object_name: str) -> None:
        with self._begin() as conn:
            conn.execute(self.watermarks.delete().where(self.watermarks.c.object_name == object_name))
