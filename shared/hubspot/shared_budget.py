"""One rate window for every instance that shares a HubSpot app token, kept in a blob.

The deployment already has a storage account (the queues live there), so the window lives
there too: one small JSON blob per app token (named by a hash of the token), changed by
read-modify-write with an ETag condition. Two instances that change it at once cannot both
win: the loser re-reads and places its slot after the winner's. Locally the same code runs
against Azurite.

If the blob cannot be reached, each instance falls back to a conservative local share of the
limit (the limit divided by the instances last seen, and by at least ``FALLBACK_INSTANCES``),
says so once, and tries the blob again every ``RETRY_SHARED_AFTER`` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from shared.errors import ConfigurationError
from shared.hubspot.rate_budget import LocalWindowStore, Window

log = logging.getLogger("hubsync.rate")
T = TypeVar("T")

FALLBACK_INSTANCES = 4  # the worker's instance bound in infra/: a share no larger than that
RETRY_SHARED_AFTER = 30.0  # seconds between attempts to reach the blob again
MAX_CONFLICTS = 200  # ETag races in a row before the blob counts as unusable


def member_id() -> str:
    """This process, as the members list of the shared window names it."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def blob_name_for(token: str) -> str:
    """One window per app token; the name is a hash, so the blob never reveals the token."""
    return "window-" + hashlib.sha256(token.encode()).hexdigest()[:32] + ".json"


class BlobWindowStore:
    """A ``WindowStore`` in a blob, changed with ETag conditions (see the module docstring)."""

    def __init__(self, container_client: Any, blob_name: str, clock: Callable[[], float] = time.time,
                 fallback_instances: int = FALLBACK_INSTANCES, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self._container = container_client
        self._blob = container_client.get_blob_client(blob_name)
        self._fallback_instances = fallback_instances
        self._sleep = sleep
        self._lock = threading.Lock()  # one change in flight per process; threads queue here
        self._cached: tuple[Window, str | None] | None = None
        self._local: LocalWindowStore | None = None  # the fallback while the blob is unreachable
        self._local_since = 0.0
        self._members_seen = 1
        self._container_ready = False
        self.conflicts = 0  # ETag races lost (for benchmarks)
        self.round_trips = 0

    @classmethod
    def connect(cls, storage: dict[str, str], container: str, token: str, client_id: str | None = None,
                **options: Any) -> BlobWindowStore:
        """From the host's storage settings: a connection string locally (Azurite), the blob
        endpoint and a managed identity in Azure."""
        from azure.storage.blob import ContainerClient

        conn = storage.get("AzureWebJobsStorage")
        uri = storage.get("AzureWebJobsStorage__blobServiceUri")
        if conn:
            client = ContainerClient.from_connection_string(conn, container)
        elif uri:
            from azure.identity import DefaultAzureCredential

            cid = storage.get("AzureWebJobsStorage__clientId") or client_id
            credential = DefaultAzureCredential(managed_identity_client_id=cid) if cid else DefaultAzureCredential()
            client = ContainerClient(uri, container, credential=credential)
        else:
            raise ConfigurationError(
                "the shared HubSpot rate budget needs the storage account: set AzureWebJobsStorage (a connection "
                "string, or UseDevelopmentStorage=true for Azurite) or AzureWebJobsStorage__blobServiceUri")
        return cls(client, blob_name_for(token), **options)

    # -- WindowStore --

    def share(self) -> float:
        """The whole limit while the blob is reachable (every instance paces against one window);
        a conservative part of it while this instance falls back to its own."""
        if self._local is None:
            return 1.0
        return 1.0 / max(self._members_seen, self._fallback_instances)

    def update(self, change: Callable[[Window], T]) -> T:
        with self._lock:
            if self._local is not None and self.clock() - self._local_since < RETRY_SHARED_AFTER:
                return self._local.update(change)
            try:
                result = self._update_blob(change)
            except Exception as err:  # noqa: BLE001 - any storage failure: pace locally, say so once
                return self._fall_back(err, change)
            if self._local is not None:
                log.warning("the shared HubSpot rate budget is reachable again; pacing with every instance")
                self._local = None
            return result

    # -- the blob --

    def _update_blob(self, change: Callable[[Window], T]) -> T:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        for conflict in range(MAX_CONFLICTS):
            window, etag = self._cached if self._cached else self._read()
            working = Window.from_dict(window.to_dict())
            result = change(working)
            body = json.dumps(working.to_dict(), separators=(",", ":"))
            try:
                self.round_trips += 1
                if etag is None:
                    answer = self._blob.upload_blob(body, overwrite=False)
                else:
                    answer = self._blob.upload_blob(body, overwrite=True, etag=etag,
                                                    match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceExistsError):
                self.conflicts += 1
                self._cached = None
                self._sleep(random.uniform(0, 0.002 * min(conflict + 1, 10)))  # noqa: S311 - jitter, not crypto
                continue
            self._cached = (working, answer["etag"])
            self._members_seen = max(1, len(working.members))
            return result
        raise RuntimeError(f"lost {MAX_CONFLICTS} ETag races in a row on the shared rate window")

    def _read(self) -> tuple[Window, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        self.round_trips += 1
        try:
            download = self._blob.download_blob()
            data = download.readall()
            etag = download.properties.etag
        except ResourceNotFoundError:
            self._ensure_container()
            return Window(), None
        try:
            return Window.from_dict(json.loads(data)), etag
        except (ValueError, TypeError, KeyError):  # not ours or damaged: start a new window over it
            log.warning("the shared rate window blob %s was unreadable; starting a new one", self._blob.blob_name)
            return Window(), etag

    def _ensure_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        if self._container_ready:
            return
        self.round_trips += 1
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        self._container_ready = True

    # -- the fallback --

    def _fall_back(self, err: Exception, change: Callable[[Window], T]) -> T:
        if self._local is None:
            # keep what the instances had learned, and the slots already granted
            learned = Window.from_dict(self._cached[0].to_dict()) if self._cached else None
            self._local = LocalWindowStore(self.clock, learned)
            log.warning(
                "the shared HubSpot rate budget is unreachable (%s: %s); pacing this instance alone at 1/%d of the "
                "limit until it is back", type(err).__name__, str(err)[:200],
                max(self._members_seen, self._fallback_instances))
        self._local_since = self.clock()
        self._cached = None
        return self._local.update(change)
