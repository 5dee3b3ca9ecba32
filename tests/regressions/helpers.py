"""Shared helpers for the review tests: a Runtime against real local services."""

from __future__ import annotations

import random
from typing import Any

from pydantic import SecretStr

from shared.config import parse_config
from shared.runtime import Runtime
from shared.settings import Settings
from tests.conftest import TOKEN
from tests.support import config_dict


def make_runtime(engine: Any, emulator: Any, *, config: dict[str, Any] | None = None, sleep: Any = None,
                 queue: Any = None, poison_queue: Any = None, settings: Settings | None = None,
                 **overrides: Any) -> Runtime:
    data = config or config_dict(**overrides)
    settings = settings or Settings(hubspot_token=SecretStr(TOKEN), queue_name=f"q{random.randrange(10**8)}")
    extra: dict[str, Any] = {}
    if queue is not None:
        extra = {"queue": queue, "poison_queue": poison_queue}
    rt = Runtime.build(settings, parse_config(data), engine=engine, hubspot_base_url=emulator.base_url,
                       client_side_validation=True, sleep=sleep or (lambda s: None), **extra)
    rt.state.init_db()
    return rt
