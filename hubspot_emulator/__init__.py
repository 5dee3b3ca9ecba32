"""A local, stdlib-only emulator of HubSpot's CRM API for hubsync's tests and demos: v3 objects,
properties, pipelines and schemas, and v4 associations.

    from hubspot_emulator import Emulator

    with Emulator(token="test-token") as emu:
        client = hubspot.HubSpot(access_token="test-token", host=emu.base_url)
"""

from .errors import ApiError
from .server import Emulator
from .store import Store

__all__ = ["ApiError", "Emulator", "Store"]
