"""The one factory that turns settings and configuration into working parts.

The CLI, the Azure Functions and the tests all build their source engine, state store,
HubSpot writer, queues, planner, worker and handler here; tests pass real local services in
place of Azure's (a SQLite/PostgreSQL URL, Azurite, the emulator). Which setting wins over
which configuration value is decided in ``shared.settings``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from shared import sync_logger
from shared.config import ObjectConfig, SyncConfig, check_ceiling
from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.hubspot.rate_budget import PacedBudget
from shared.hubspot.schema_cache import SchemaCache
from shared.hubspot.shared_budget import BlobWindowStore, member_id
from shared.queue.backends import MemoryQueue, Queue, StorageQueue
from shared.queue.queue_handler import MessageHandler
from shared.settings import Settings
from shared.source.delta import DeltaSource
from shared.source.engine import check_connection, create_source_engine
from shared.source.sql_reader import WatermarkDelta
from shared.source.table import SourceTable, TableCache
from shared.state import StateStore
from shared.sync.batch_processor import Worker
from shared.sync.linker import Linker
from shared.sync.planner import Planner

log = logging.getLogger("hubsync.runtime")


@dataclass
class Runtime:
    settings: Settings
    config: SyncConfig
    engine: Engine
    state: StateStore
    queue: Queue
    poison_queue: Queue
    make_writer: Callable[[], HubSpotWriter]
    _writer: HubSpotWriter | None = None
    _schemas: SchemaCache | None = None
    _link_types: dict[Any, Any] = field(default_factory=dict)  # association types, resolved once per process

    @property
    def schemas(self) -> SchemaCache:
        """Portal schemas, fetched once per object type and shared by preflight and workers."""
        if self._schemas is None:
            self._schemas = SchemaCache(self.writer)
        return self._schemas

    @property
    def writer(self) -> HubSpotWriter:
        """The HubSpot writer, built on first use (commands that only touch SQL need no token)."""
        if self._writer is None:
            self._writer = self.make_writer()
        return self._writer

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: SyncConfig,
        *,
        engine: Engine | None = None,
        queue: Queue | None = None,
        poison_queue: Queue | None = None,
        hubspot_base_url: str | None = None,
        client_side_validation: bool = False,
        sleep: Callable[[float], None] | None = None,
        storage_queues: bool = False,
    ) -> Runtime:
        sync_logger.log_values(config.log_values)
        engine = engine or create_source_engine(settings.source_url_for(config), settings.sql_auth)
        state = StateStore(engine, config.source.state_schema, config.source.table_prefix)

        check_ceiling(config, hubspot_base_url or settings.hubspot_base_url)
        # the queues' storage account holds the window every instance shares (a test may hand in
        # Storage queues without naming the account: its budget is then this process's)
        shared_budget = settings.uses_storage_queues(config, storage_queues) and bool(settings.storage)

        def make_writer() -> HubSpotWriter:
            token = settings.token_for(config)
            return HubSpotWriter(
                token,
                hubspot_base_url or settings.hubspot_base_url,
                budget=cls.make_budget(settings, config, token.get_secret_value(), shared_budget),
                timeout=config.hubspot.timeout_seconds,
                max_attempts=config.hubspot.max_attempts,
                client_side_validation=client_side_validation,
                **({"sleep": sleep} if sleep is not None else {}),
            )

        if queue is None or poison_queue is None:
            queue, poison_queue = cls.make_queues(settings, config, storage_queues)
        return cls(settings, config, engine, state, queue, poison_queue, make_writer)

    @staticmethod
    def make_budget(settings: Settings, config: SyncConfig, token: str, shared: bool) -> PacedBudget:
        """One rolling window for every caller of the app: in the queues' storage account when the
        queues are there (every Function instance and CLI worker), in this process otherwise."""
        hub = config.hubspot
        options = {"reserve_share": hub.reserve_share, "daily_reserve": hub.daily_reserve}
        if not shared:
            return PacedBudget(hub.requests_per_10s, **options)  # type: ignore[arg-type]
        store = BlobWindowStore.connect(settings.storage, hub.budget_container, token, settings.azure_client_id)
        return PacedBudget(hub.requests_per_10s, store, member=member_id(), **options)  # type: ignore[arg-type]

    @staticmethod
    def make_queues(settings: Settings, config: SyncConfig, in_functions: bool = False) -> tuple[Queue, Queue]:
        if not settings.uses_storage_queues(config, in_functions):
            return MemoryQueue(settings.queue_name), MemoryQueue(settings.poison_queue_name)
        return tuple(  # type: ignore[return-value]
            StorageQueue.connect(name, settings.storage, settings.azure_client_id, create=True)
            for name in (settings.queue_name, settings.poison_queue_name)
        )

    @property
    def durable_queue(self) -> bool:
        return not isinstance(self.queue, MemoryQueue)

    def check_source(self) -> None:
        check_connection(self.engine)

    def source_table(self, obj: ObjectConfig) -> SourceTable:
        index = self.config.objects.index(obj)
        return SourceTable(self.engine, obj, label=f"objects[{index}] ({obj.name})")

    def delta_source(self, obj: ObjectConfig) -> DeltaSource:
        """Where the planner reads an object's changes: its watermark (Change Tracking comes later)."""
        return WatermarkDelta(self.source_table(obj))

    def planner(self, save_positions: bool | None = None) -> Planner:
        save = self.durable_queue if save_positions is None else save_positions
        return Planner(self.config, self.state, self.queue, self.delta_source, save_positions=save,
                       schema_for=lambda object_type: self.schemas.get(object_type))

    def worker(self) -> Worker:
        sources = TableCache(self.source_table)
        return Worker(self.config, self.state, self.writer, sources, self.schemas, linker=self.linker(sources))

    def linker(self, sources: TableCache | None = None) -> Linker:
        """Associations' linker; the association types it resolves are kept for the process (a
        Function builds a worker per message: one labels call per pair of object types, not per batch)."""
        return Linker(self.config, self.state, self.writer, sources or TableCache(self.source_table),
                      _types=self._link_types)

    def handler(self) -> MessageHandler:
        return MessageHandler(self.worker(), self.state, self.queue, self.settings.queue_name)


def from_environment(config_path: str | None = None, root: Path | None = None) -> Runtime:
    """The runtime the Azure Functions use: everything from app settings, Storage queues; a
    relative configuration path is read from ``root`` (the app's root)."""
    settings = Settings.from_env()
    return Runtime.build(settings, settings.load_config(config_path, root), storage_queues=True)
