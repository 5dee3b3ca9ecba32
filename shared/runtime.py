"""The one factory that turns settings and configuration into working parts.

The CLI, the Azure Functions and the tests all build their source engine, state store,
HubSpot writer, queues, worker and handler here; tests pass real local services in place of
Azure's (a SQLite/PostgreSQL URL, Azurite, the emulator).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from shared.config import ObjectConfig, SyncConfig, load_config
from shared.errors import ConfigurationError
from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.hubspot.rate_budget import RateBudget
from shared.queue.backends import MemoryQueue, Queue, StorageQueue
from shared.queue.queue_handler import MessageHandler
from shared.settings import Settings
from shared.source.sql_reader import SourceTable, check_connection, create_source_engine
from shared.state import StateStore
from shared.sync.batch_processor import SchemaCache, SourceCache, Worker
from shared.sync.planner import Planner

log = logging.getLogger("hubsync.runtime")
EMULATOR_TOKEN = "demo-token"  # noqa: S105 - the local emulator's token, not a secret


def resolve_config(settings: Settings, path: str | None = None) -> SyncConfig:
    chosen = path or settings.config_path
    if not chosen:
        raise ConfigurationError("no configuration file: pass --config or set HUBSYNC_CONFIG")
    return load_config(chosen)


def source_url(settings: Settings, config: SyncConfig) -> str:
    if settings.source_url is not None:
        return settings.source_url.get_secret_value()
    if config.source.url:
        return config.source.url
    raise ConfigurationError("no source database: set HUBSYNC_SOURCE_URL or source.url in the configuration")


def hubspot_token(settings: Settings, config: SyncConfig) -> SecretStr:
    if settings.hubspot_token is not None:
        return settings.hubspot_token
    if config.hubspot.mode == "emulator":
        return SecretStr(EMULATOR_TOKEN)
    raise ConfigurationError(
        "HUBSPOT_ACCESS_TOKEN is not set: create a HubSpot private app with the CRM object scopes "
        "and put its token in HUBSPOT_ACCESS_TOKEN (a Key Vault reference in Azure)"
    )


@dataclass
class Runtime:
    settings: Settings
    config: SyncConfig
    engine: Engine
    state: StateStore
    queue: Queue
    poison_queue: Queue
    make_writer: Any = None
    _writer: HubSpotWriter | None = None
    _schemas: SchemaCache | None = None

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
        sleep: Any = None,
        storage_queues: bool = False,
    ) -> Runtime:
        engine = engine or create_source_engine(source_url(settings, config), settings.sql_auth)
        state = StateStore(engine, config.source.state_schema, config.source.table_prefix)
        writer_kwargs: dict[str, Any] = {}
        if sleep is not None:
            writer_kwargs["sleep"] = sleep

        def make_writer() -> HubSpotWriter:
            return HubSpotWriter(
                hubspot_token(settings, config),
                hubspot_base_url or settings.hubspot_base_url,
                budget=RateBudget(config.hubspot.requests_per_10s),
                timeout=config.hubspot.timeout_seconds,
                max_attempts=config.hubspot.max_attempts,
                client_side_validation=client_side_validation,
                **writer_kwargs,
            )

        if queue is None or poison_queue is None:
            queue, poison_queue = cls.make_queues(settings, config, storage_queues)
        return cls(settings, config, engine, state, queue, poison_queue, make_writer)

    @staticmethod
    def make_queues(settings: Settings, config: SyncConfig, storage_queues: bool = False) -> tuple[Queue, Queue]:
        if config.queue.backend == "memory" and not storage_queues:
            return MemoryQueue(settings.queue_name), MemoryQueue(settings.poison_queue_name)
        return (
            StorageQueue.connect(settings.queue_name, dict(settings.storage), settings.azure_client_id, create=True),
            StorageQueue.connect(settings.poison_queue_name, dict(settings.storage), settings.azure_client_id,
                                 create=True),
        )

    @property
    def durable_queue(self) -> bool:
        return not isinstance(self.queue, MemoryQueue)

    def check_source(self) -> None:
        check_connection(self.engine)

    def source_table(self, obj: ObjectConfig) -> SourceTable:
        index = self.config.objects.index(obj)
        return SourceTable(self.engine, obj, label=f"objects[{index}] ({obj.name})")

    def planner(self, save_positions: bool | None = None) -> Planner:
        save = self.durable_queue if save_positions is None else save_positions
        return Planner(self.config, self.state, self.queue, self.source_table, save_positions=save)

    def worker(self) -> Worker:
        return Worker(self.config, self.state, self.writer, SourceCache(self.source_table), self.schemas)

    def handler(self) -> MessageHandler:
        return MessageHandler(self.worker(), self.state, self.queue, self.settings.queue_name)


def from_environment(config_path: str | None = None) -> Runtime:
    """The runtime the Azure Functions use: everything from app settings."""
    settings = Settings.from_env()
    config = resolve_config(settings, config_path)
    # inside Azure Functions the queues are always Storage queues, whatever queue.backend says
    return Runtime.build(settings, config, storage_queues=True)
