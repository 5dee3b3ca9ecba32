"""The portal's property definitions (and pipelines of deals and tickets), fetched once per object
type and shared by threads."""

from __future__ import annotations

import threading
import time

from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.mapping.data_validator import PortalSchema
from shared.mapping.object_types import PIPELINE_PROPERTIES


class SchemaCache:
    """Portal schemas fetched once per run (or per ``ttl`` seconds in a long-lived worker)."""

    def __init__(self, writer: HubSpotWriter, ttl: float = 900.0) -> None:
        self._writer = writer
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, PortalSchema]] = {}

    def get(self, object_type: str) -> PortalSchema:
        with self._lock:  # one fetch per object type even when many workers start at once
            hit = self._cache.get(object_type)
            if hit and time.monotonic() - hit[0] < self._ttl:
                return hit[1]
            schema = self._writer.fetch_schema(object_type)
            if object_type in PIPELINE_PROPERTIES:
                schema.pipelines = self._writer.fetch_pipelines(object_type)
            self._cache[object_type] = (time.monotonic(), schema)
            return schema
