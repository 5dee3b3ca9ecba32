"""Storage queues: Azure Storage Queues in production, an in-process twin for local runs.

Both speak the same small interface and the same semantics: base64-encoded text, a 64 KiB
limit after encoding, visibility timeouts, dequeue counts. ``MemoryQueue`` lets the CLI and
the demo run with no cloud account; ``StorageQueue`` wraps ``azure-storage-queue`` (Azurite
locally) and signs in with a managed identity in Azure.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from shared.errors import ConfigurationError, QueueUnavailable
from shared.queue.messages import QUEUE_MESSAGE_LIMIT, encoded_size


class MessageTooLarge(ValueError):
    pass


class LeaseLost(RuntimeError):
    """The message's pop receipt is stale: its lease ran out and another receiver has it."""


@dataclass
class QueuedMessage:
    id: str
    body: str
    dequeue_count: int
    pop_receipt: str | None = None


class Queue(Protocol):
    name: str

    def send(self, body: str, visibility_timeout: float = 0) -> None: ...
    def receive(self, max_messages: int = 1, visibility_timeout: float = 30) -> list[QueuedMessage]: ...
    def delete(self, message: QueuedMessage) -> None: ...
    def release(self, message: QueuedMessage, visibility_timeout: float) -> None: ...
    def approximate_count(self) -> int: ...


def _check_size(body: str) -> None:
    size = encoded_size(body)
    if size > QUEUE_MESSAGE_LIMIT:
        raise MessageTooLarge(f"message is {size} bytes encoded; Storage queues take at most {QUEUE_MESSAGE_LIMIT}")


class MemoryQueue:
    """A thread-safe in-process queue with Storage Queue semantics."""

    def __init__(self, name: str, clock: Any = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count()

    def send(self, body: str, visibility_timeout: float = 0) -> None:
        _check_size(body)
        with self._lock:
            mid = str(uuid.uuid4())
            self._items[mid] = {"body": body, "visible_at": self._clock() + visibility_timeout,
                                "dequeue_count": 0, "receipt": None, "seq": next(self._seq)}

    def receive(self, max_messages: int = 1, visibility_timeout: float = 30) -> list[QueuedMessage]:
        now = self._clock()
        out = []
        with self._lock:
            # dicts keep insertion order: the first visible ones are the oldest, no sort needed
            ready = []
            for mid, item in self._items.items():
                if item["visible_at"] <= now:
                    ready.append((mid, item))
                    if len(ready) >= max_messages:
                        break
            for mid, item in ready:
                item["dequeue_count"] += 1
                item["visible_at"] = now + visibility_timeout
                item["receipt"] = str(uuid.uuid4())
                out.append(QueuedMessage(mid, item["body"], item["dequeue_count"], item["receipt"]))
        return out

    def delete(self, message: QueuedMessage) -> None:
        with self._lock:
            item = self._items.get(message.id)
            if item is not None and item["receipt"] != message.pop_receipt:
                raise LeaseLost(f"message {message.id} was taken over by another receiver")
            if item is not None:
                del self._items[message.id]

    def release(self, message: QueuedMessage, visibility_timeout: float) -> None:
        """Make the message visible again after ``visibility_timeout`` seconds (or extend its lease)."""
        with self._lock:
            item = self._items.get(message.id)
            if item is None or item["receipt"] != message.pop_receipt:
                raise LeaseLost(f"message {message.id} was taken over by another receiver")
            item["visible_at"] = self._clock() + visibility_timeout
            item["receipt"] = message.pop_receipt = str(uuid.uuid4())

    def approximate_count(self) -> int:
        with self._lock:
            return len(self._items)

    def peek_all(self) -> list[str]:
        with self._lock:
            return [i["body"] for i in sorted(self._items.values(), key=lambda i: i["seq"])]


class StorageQueue:
    """An Azure Storage queue (or Azurite) with the Functions trigger's base64 encoding."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.name = client.queue_name

    @classmethod
    def connect(cls, name: str, storage: dict[str, str], client_id: str | None = None,
                create: bool = False) -> StorageQueue:
        """Build from the ``AzureWebJobsStorage`` settings: a connection string locally,
        ``AzureWebJobsStorage__queueServiceUri`` and a managed identity in Azure."""
        from azure.storage.queue import QueueClient, TextBase64EncodePolicy

        # bodies are decoded per message here (``decode_body``): a policy that fails on one bad body
        # would fail every receive, and the message would never reach the poison store
        policies = {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": None}
        conn = storage.get("AzureWebJobsStorage")
        uri = storage.get("AzureWebJobsStorage__queueServiceUri")
        if conn:
            client = QueueClient.from_connection_string(conn, name, **policies)
        elif uri:
            from azure.identity import DefaultAzureCredential

            cid = storage.get("AzureWebJobsStorage__clientId") or client_id
            credential = DefaultAzureCredential(managed_identity_client_id=cid) if cid else DefaultAzureCredential()
            client = QueueClient(uri, name, credential=credential, **policies)
        else:
            raise ConfigurationError(
                "no queue storage configured: set AzureWebJobsStorage (a connection string, or "
                "UseDevelopmentStorage=true for Azurite) or AzureWebJobsStorage__queueServiceUri"
            )
        queue = cls(client)
        if create:
            queue.create()
        return queue

    def create(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._client.create_queue()
        except ResourceExistsError:
            pass
        except Exception as err:  # noqa: BLE001 - surfaced with the queue's name
            raise _storage_error(self.name, err) from None

    def send(self, body: str, visibility_timeout: float = 0) -> None:
        _check_size(body)
        try:
            self._client.send_message(body, visibility_timeout=int(visibility_timeout) or None,
                                      time_to_live=-1)
        except Exception as err:  # noqa: BLE001
            raise _storage_error(self.name, err) from None

    def receive(self, max_messages: int = 1, visibility_timeout: float = 30) -> list[QueuedMessage]:
        try:
            messages = self._client.receive_messages(
                messages_per_page=max_messages, max_messages=max_messages,
                visibility_timeout=max(1, int(visibility_timeout)),
            )
            return [
                QueuedMessage(m.id, decode_body(m.content), m.dequeue_count, m.pop_receipt) for m in messages
            ]
        except Exception as err:  # noqa: BLE001
            raise _storage_error(self.name, err) from None

    def delete(self, message: QueuedMessage) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            self._client.delete_message(message.id, message.pop_receipt)
        except HttpResponseError as err:
            if err.status_code in (400, 404):  # PopReceiptMismatch / MessageNotFound
                raise LeaseLost(f"message {message.id}: {getattr(err, 'error_code', err.status_code)}") from None
            raise _storage_error(self.name, err) from None

    def release(self, message: QueuedMessage, visibility_timeout: float) -> None:
        """Make the message visible again after ``visibility_timeout`` seconds (or extend its lease)."""
        from azure.core.exceptions import HttpResponseError

        try:
            receipt = self._client.update_message(message.id, message.pop_receipt,
                                                  visibility_timeout=int(visibility_timeout))
        except HttpResponseError as err:
            if err.status_code in (400, 404):
                raise LeaseLost(f"message {message.id}: {getattr(err, 'error_code', err.status_code)}") from None
            raise _storage_error(self.name, err) from None
        message.pop_receipt = receipt.pop_receipt

    def approximate_count(self) -> int:
        try:
            return int(self._client.get_queue_properties().approximate_message_count or 0)
        except Exception as err:  # noqa: BLE001
            raise _storage_error(self.name, err) from None

    def clear(self) -> None:
        try:
            self._client.clear_messages()
        except Exception as err:  # noqa: BLE001
            raise _storage_error(self.name, err) from None


def decode_body(content: Any) -> str:
    """A message body as the Functions trigger reads it (base64 of UTF-8). A body that is not
    base64 or not UTF-8 comes back as it is stored, so the handler parks it as malformed."""
    raw = content.decode("utf-8", "replace") if isinstance(content, bytes | bytearray) else str(content or "")
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return raw


def _storage_error(name: str, err: Exception) -> Exception:
    """Azure Storage's exceptions, wrapped once here into hubsync's taxonomy."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(err, ClientAuthenticationError):
        return ConfigurationError(f"queue {name!r}: storage refused the credentials: {str(err).splitlines()[0]}")
    if isinstance(err, HttpResponseError) and err.status_code in (400, 403, 404, 413):
        code = getattr(err, "error_code", None) or err.status_code
        if code == "RequestBodyTooLarge":
            return MessageTooLarge(f"queue {name!r}: message too large for Storage queues")
        return ConfigurationError(f"queue {name!r}: storage answered {code}: {str(err).splitlines()[0]}")
    if isinstance(err, ServiceRequestError | HttpResponseError):
        return QueueUnavailable(f"queue {name!r}: storage unavailable: {str(err).splitlines()[0]}")
    return err
