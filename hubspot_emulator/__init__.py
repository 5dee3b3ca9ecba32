"""A local emulator of HubSpot's CRM v3 API (stdlib only) for hubsync's tests and demos.

    from hubspot_emulator import Emulator

    with Emulator(token="test-token") as emu:
        client = hubspot.HubSpot(access_token="test-token", host=emu.base_url)
"""

from .errors import ApiError
from .server import Emulator
from .store import Store

__all__ = ["ApiError", "Emulator", "Store"]
