"""Loopback HTTP server speaking the subset of HubSpot's CRM v3 API that hubsync uses."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ApiError, error_body
from .schemas import DEFAULT_PORTAL_ID
from .store import Store

WINDOW_SECONDS = 10.0
DEFAULT_MAX_PER_10S = 1000
DEFAULT_DAILY = 1_000_000
HEALTH_PATH = "/_emulator/health"
STATS_PATH = "/_emulator/stats"  # what a benchmark in another process reads: calls by status, the busiest window

_BATCH_RE = re.compile(
    r"^/crm/v3/objects/(?P<type>[^/]+)/batch/(?P<action>create|read|update|upsert|archive)$"
)
_OBJECTS_RE = re.compile(r"^/crm/v3/objects/(?P<type>[^/]+)$")
_OBJECT_RE = re.compile(r"^/crm/v3/objects/(?P<type>[^/]+)/(?P<id>[^/]+)$")
_PROPERTIES_RE = re.compile(r"^/crm/v3/properties/(?P<type>[^/]+)$")
_PROPERTY_RE = re.compile(r"^/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)$")
_PIPELINES_RE = re.compile(r"^/crm/v3/pipelines/(?P<type>[^/]+)(?:/(?P<pipeline>[^/]+))?$")
_STAGES_RE = re.compile(r"^/crm/v3/pipelines/(?P<type>[^/]+)/(?P<pipeline>[^/]+)/stages(?:/(?P<stage>[^/]+))?$")
# The SDK calls /crm-object-schemas/v3/schemas; HubSpot's documentation shows /crm/v3/schemas.
_SCHEMAS_RE = re.compile(r"^/(?:crm/v3|crm-object-schemas/v3)/schemas(?:/(?P<type>[^/]+))?$")
_ASSOCIATIONS_RE = re.compile(
    r"^/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)/"
    r"(?P<action>batch/create|batch/associate/default|batch/read|batch/archive|batch/labels/archive|labels)$"
)
_ASSOCIATION_ACTIONS = {
    ("POST", "batch/create"): "create",
    ("POST", "batch/associate/default"): "default",
    ("POST", "batch/read"): "read",
    ("POST", "batch/archive"): "archive",
    ("POST", "batch/labels/archive"): "archive_labels",
    ("GET", "labels"): "labels",
    ("POST", "labels"): "create_label",
}
# What a call is about, by path prefix: benchmarks count association calls apart from object calls.
_CALL_KINDS = (
    ("/crm/v4/associations/", "associations"),
    ("/crm/v3/objects/", "objects"),
    ("/crm/v3/properties/", "properties"),
    ("/crm/v3/pipelines/", "pipelines"),
    ("/crm/v3/schemas", "schemas"),
    ("/crm-object-schemas/", "schemas"),
)

Response = tuple[int, Any, dict[str, str]]


def rate_limit_body(policy: str = "TEN_SECONDLY_ROLLING") -> dict[str, Any]:
    """HubSpot's documented 429 body (plus ``category`` so the SDK's Error model accepts it)."""
    limit = "ten_secondly_rolling" if policy == "TEN_SECONDLY_ROLLING" else policy.lower()
    return {
        "status": "error",
        "message": f"You have reached your {limit} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
        "category": "RATE_LIMITS",
    }


def default_fault_body(status: int) -> Any:
    if status == 429:
        return rate_limit_body()
    if 200 <= status < 300:
        return {}
    categories = {
        400: ("Bad request", "VALIDATION_ERROR"),
        401: ("Authentication credentials not found.", "INVALID_AUTHENTICATION"),
        403: ("This app hasn't been granted all required scopes to make this call.", "MISSING_SCOPES"),
        404: ("resource not found", "OBJECT_NOT_FOUND"),
        409: ("Conflict", "CONFLICT"),
        423: ("The resource is locked by another request; retry after at least 2 seconds.", "LOCKED"),
        477: ("A data migration is in progress; retry later.", "MIGRATION_IN_PROGRESS"),
    }
    if status in categories:
        message, category = categories[status]
    elif status >= 500:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Server error"
        message, category = f"{reason} (injected fault)", "INTERNAL_ERROR"
    else:
        message, category = f"Injected fault {status}", "ERROR"
    return error_body(message, category)


@dataclass
class _Fault:
    status: int
    remaining: int
    path_contains: str | None
    body: Any
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[no-untyped-def]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotEmulator/1.0"
    timeout = 60
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.emulator.verbose:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        emulator = self.server.emulator
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._send(400, error_body("Invalid Content-Length", "VALIDATION_ERROR"), emulator._rate_headers())
            return
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            status, payload, headers = emulator._handle(method, self.path, self.headers, raw)
        except Exception as exc:  # noqa: BLE001 - the emulator must answer, whatever happened
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, error_body(f"Internal emulator error: {exc!r}", "INTERNAL_ERROR")
            headers = emulator._rate_headers()
        emulator._record_call(method, urlsplit(self.path).path, status)
        self._send(status, payload, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if payload is None:
            data, content_type = b"", None
        elif isinstance(payload, bytes):
            data, content_type = payload, "text/plain; charset=utf-8"
        elif isinstance(payload, str):
            data, content_type = payload.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode("utf-8"), "application/json;charset=utf-8"
        self.send_response(status)
        lower = {k.lower() for k in headers}
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 204:
            if content_type and "content-type" not in lower:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204 and data:
            self.wfile.write(data)


class Emulator:
    """A HubSpot CRM v3 emulator on a loopback port.

    >>> with Emulator(token="t") as emu:
    ...     emu.base_url  # doctest: +SKIP
    """

    def __init__(
        self,
        token: str = "test-token",  # noqa: S107 - the emulator's well-known test token
        port: int = 0,
        data_file: str | None = None,
        rate_limit_per_10s: int | None = None,
        daily_limit: int | None = None,
        host: str = "127.0.0.1",
        window_seconds: float = WINDOW_SECONDS,
        portal_id: int = DEFAULT_PORTAL_ID,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.data_file = data_file
        self.rate_limit_per_10s = rate_limit_per_10s
        self.daily_limit = daily_limit
        self.window_seconds = window_seconds  # HubSpot's is 10 s; benchmarks use a shorter one
        self.accepted: list[float] = []  # clock time of every request the rate limit let through
        self.verbose = False
        self.portal_id = portal_id  # in custom objects' fully qualified names: p<portal_id>_<name>
        self.store = Store(data_file, portal_id=portal_id)
        self._meta_lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._calls: list[tuple[str, str, int]] = []
        self._window: deque[float] = deque()
        self._clock = time.monotonic  # replaceable in tests
        self._daily_count = 0
        self._daily_date: date = datetime.now(UTC).date()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), self)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="hubspot-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ inspection and knobs
    def records(self, object_type: str) -> list[dict[str, Any]]:
        """Non-archived records of a type, ordered by id."""
        return self.store.records(object_type)

    def get_record(
        self, object_type: str, id: str, include_archived: bool = False  # noqa: A002 - documented API
    ) -> dict[str, Any] | None:
        """A record by id; archived records only with ``include_archived=True``."""
        return self.store.get_record(object_type, id, include_archived=include_archived)

    def find(self, object_type: str, prop: str, value: str) -> dict[str, Any] | None:
        """First non-archived record whose ``prop`` equals ``value`` (email: case-insensitive)."""
        return self.store.find(object_type, prop, value)

    def add_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        """Add (or replace) a property definition; missing fields get HubSpot's defaults."""
        return self.store.add_property(object_type, definition)

    def add_schema(
        self,
        name: str,
        properties: list[Any] | None = None,
        required: list[str] | None = None,
        primary_display: str | None = None,
        unique: list[str] | None = None,
        labels: dict[str, str] | None = None,
        searchable: list[str] | None = None,
        associated_objects: list[str] | None = None,
    ) -> dict[str, Any]:
        """Create the custom object ``name``; returns its schema as ``GET /crm/v3/schemas`` shows it.

        ``properties`` are names (string properties) or definitions as for ``add_property``;
        ``required``, ``unique`` (``hasUniqueValue``), ``searchable`` and ``primary_display`` name
        some of them. The object is then known as ``2-<n>``, ``p<portal_id>_<name>`` and
        ``p_<name>``. ``associated_objects`` (default: contacts, companies, deals, tickets) get
        a default association type each way. ``ValueError`` for a bad or taken name.
        """
        return self.store.add_schema(
            name, properties=properties, required=required, primary_display=primary_display, unique=unique,
            labels=labels, searchable=searchable, associated_objects=associated_objects,
        )

    def add_association_label(
        self, from_type: str, to_type: str, label: str, type_id: int | None = None, inverse_label: str | None = None
    ) -> dict[str, Any]:
        """Add a USER_DEFINED association label from ``from_type`` to ``to_type``.

        Returns ``{"category", "typeId", "label"}``. Without ``type_id`` the emulator numbers it
        (from 1000 up). Without ``inverse_label`` the same type id and label serve both directions;
        with one, the other direction gets its own id and that label.
        """
        return self.store.add_association_label(from_type, to_type, label, type_id, inverse_label)

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None) -> None:
        """Associate two existing records (the pair's default type unless ``type_id``), both directions."""
        self.store.associate(from_type, from_id, to_type, to_id, type_id)

    def associations(self, from_type: str, to_type: str) -> list[tuple[str, str, int]]:
        """``(from id, to id, type id)`` of every association seen from ``from_type``, sorted."""
        return self.store.associations(from_type, to_type)

    def add_pipeline(
        self,
        object_type: str,
        pipeline_id: str,
        label: str,
        stages: list[Any],
        display_order: int | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a pipeline of ``deals`` or ``tickets``.

        ``stages`` are ``(id, label)``, ``(id, label, metadata)`` or ``{"id", "label", "metadata"}``,
        in display order. Stage ids must not be stages of another pipeline of the type. Returns
        the pipeline as ``GET /crm/v3/pipelines/{type}/{id}`` shows it.
        """
        return self.store.add_pipeline(object_type, pipeline_id, label, stages, display_order)

    def pipelines(self, object_type: str) -> list[dict[str, Any]]:
        """The pipelines of ``deals`` or ``tickets``, in display order."""
        return self.store.list_pipelines(object_type)["results"]

    def inject_fault(
        self,
        status: int,
        times: int = 1,
        path_contains: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of serving them."""
        if times < 1:
            raise ValueError("times must be at least 1")
        fault_headers = dict(headers or {})
        if status == 477 and not any(k.lower() == "retry-after" for k in fault_headers):
            fault_headers["Retry-After"] = "1"
        fault = _Fault(
            status=status,
            remaining=times,
            path_contains=path_contains,
            body=default_fault_body(status) if body is None else body,
            headers=fault_headers,
        )
        with self._meta_lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        with self._meta_lock:
            self._faults.clear()

    @property
    def calls(self) -> list[tuple[str, str, int]]:
        with self._meta_lock:
            return list(self._calls)

    def reset(self) -> None:
        """Clear records (and the id counter), pending faults, recorded calls and rate counters."""
        self.store.reset()
        with self._meta_lock:
            self._faults.clear()
            self._calls.clear()
            self._window.clear()
            self.accepted.clear()
            self._daily_count = 0

    # ------------------------------------------------------------------ request handling
    def _record_call(self, method: str, path: str, status: int) -> None:
        with self._meta_lock:
            self._calls.append((method, path, status))

    def _take_fault(self, raw_path: str) -> _Fault | None:
        with self._meta_lock:
            for fault in self._faults:
                if fault.path_contains is None or fault.path_contains in raw_path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _purge_window(self, now: float) -> None:
        while self._window and self._window[0] <= now - self.window_seconds:
            self._window.popleft()
        today = datetime.now(UTC).date()
        if today != self._daily_date:
            self._daily_date = today
            self._daily_count = 0

    def _take_rate_token(self) -> dict[str, Any] | None:
        """Count one request; returns the 429 body when a limit refuses it."""
        with self._meta_lock:
            now = self._clock()
            self._purge_window(now)
            if self.daily_limit is not None and self._daily_count >= self.daily_limit:
                return rate_limit_body("DAILY")
            if self.rate_limit_per_10s is not None and len(self._window) >= self.rate_limit_per_10s:
                return rate_limit_body("TEN_SECONDLY_ROLLING")
            self._window.append(now)
            self.accepted.append(now)
            self._daily_count += 1
            return None

    @staticmethod
    def call_kind(path: str) -> str:
        """``associations``, ``objects``, ``properties``, ``pipelines``, ``schemas`` or ``other``."""
        return next((kind for prefix, kind in _CALL_KINDS if path.startswith(prefix)), "other")

    def calls_of(self, kind: str) -> list[tuple[str, str, int]]:
        """The recorded calls of one kind (see ``call_kind``), e.g. ``calls_of("associations")``."""
        return [call for call in self.calls if self.call_kind(call[1]) == kind]

    def stats(self, object_type: str = "contacts") -> dict[str, Any]:
        """Calls by status and by kind (``{kind: {status: n}}``), the most requests let through in
        any window, and the records of ``object_type`` (how many, and how many share an email)."""
        by_status: dict[str, int] = {}
        by_kind: dict[str, dict[str, int]] = {}
        for _, path, status in self.calls:
            by_status[str(status)] = by_status.get(str(status), 0) + 1
            kind = by_kind.setdefault(self.call_kind(path), {})
            kind[str(status)] = kind.get(str(status), 0) + 1
        emails = [str(r.get("properties", {}).get("email") or "") for r in self.records(object_type)]
        with self._meta_lock:
            span = self.accepted[-1] - self.accepted[0] if len(self.accepted) > 1 else 0.0
        return {"calls_by_status": by_status, "calls_by_kind": by_kind,
                "most_in_any_window": self.most_in_any_window(),
                "accepted_span_seconds": span,
                "window_seconds": self.window_seconds, "limit": self.rate_limit_per_10s,
                "records": len(emails), "duplicate_emails": len(emails) - len(set(emails))}

    def most_in_any_window(self) -> int:
        """The most requests the rate limit let through in any one rolling window so far."""
        with self._meta_lock:
            times = list(self.accepted)
        most, first = 0, 0
        for last, t in enumerate(times):
            while times[first] <= t - self.window_seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def _rate_headers(self) -> dict[str, str]:
        with self._meta_lock:
            self._purge_window(self._clock())
            burst = self.rate_limit_per_10s if self.rate_limit_per_10s is not None else DEFAULT_MAX_PER_10S
            daily = self.daily_limit if self.daily_limit is not None else DEFAULT_DAILY
            return {
                "X-HubSpot-RateLimit-Max": str(burst),
                "X-HubSpot-RateLimit-Remaining": str(max(0, burst - len(self._window))),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_seconds * 1000)),
                "X-HubSpot-RateLimit-Daily": str(daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - self._daily_count)),
            }

    def _authorized(self, headers: Any) -> dict[str, Any] | None:
        """None when the bearer token matches; otherwise the 401 body."""
        value = headers.get("Authorization") or ""
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "bearer" and credential.strip() == self.token:
            return None
        if not value:
            message = (
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
            )
        else:
            message = "The access token provided is invalid or has expired."
        return error_body(message, "INVALID_AUTHENTICATION")

    def _handle(self, method: str, raw_path: str, headers: Any, raw: bytes) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        if path == HEALTH_PATH and method == "GET":
            return 200, {"status": "ok"}, {}
        if path == STATS_PATH and method == "GET":
            return 200, self.stats(parse_qs(parts.query).get("object_type", ["contacts"])[0]), {}
        fault = self._take_fault(raw_path)
        if fault is not None:
            return fault.status, fault.body, {**self._rate_headers(), **fault.headers}
        if not path.startswith(("/crm/", "/crm-object-schemas/")):
            return 404, error_body(f"No route for {method} {path}", "OBJECT_NOT_FOUND"), self._rate_headers()
        denied = self._authorized(headers)
        if denied is not None:
            return 401, denied, self._rate_headers()
        refused = self._take_rate_token()
        if refused is not None:
            return 429, refused, self._rate_headers()
        try:
            status, payload = self._route(method, path, parse_qs(parts.query), raw)
        except ApiError as exc:
            status, payload = exc.status, exc.body
        return status, payload, self._rate_headers()

    @staticmethod
    def _json(raw: bytes) -> Any:
        if not raw.strip():
            raise ApiError(400, "Invalid input JSON: the request body is empty", "VALIDATION_ERROR")
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"Invalid input JSON: {exc}", "VALIDATION_ERROR") from None
        except json.JSONDecodeError as exc:
            message = f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
            raise ApiError(400, message, "VALIDATION_ERROR") from None

    @staticmethod
    def _list_param(query: dict[str, list[str]], name: str) -> list[str] | None:
        values = [v for raw in query.get(name, []) for v in raw.split(",") if v]
        return values or None

    @staticmethod
    def _flag(query: dict[str, list[str]], name: str) -> bool:
        return (query.get(name) or ["false"])[-1].lower() == "true"

    def _route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> tuple[int, Any]:
        store = self.store
        match = _BATCH_RE.match(path)
        if match:
            if method != "POST":
                raise self._method_not_allowed(method, path)
            body = self._json(raw)
            object_type = unquote(match["type"])
            action = match["action"]
            handler = {
                "create": store.batch_create,
                "read": store.batch_read,
                "update": store.batch_update,
                "upsert": store.batch_upsert,
                "archive": store.batch_archive,
            }[action]
            return handler(object_type, body)
        match = _OBJECTS_RE.match(path)
        if match:
            object_type = unquote(match["type"])
            if method == "GET":
                try:
                    limit = int((query.get("limit") or ["10"])[-1])
                except ValueError:
                    raise ApiError(400, "limit must be an integer", "VALIDATION_ERROR") from None
                return 200, store.list_objects(
                    object_type,
                    limit=limit,
                    after=(query.get("after") or [None])[-1],
                    properties=self._list_param(query, "properties"),
                    archived=self._flag(query, "archived"),
                )
            if method == "POST":
                body = self._json(raw)
                if not isinstance(body, dict):
                    raise ApiError(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
                single = {k: v for k, v in body.items() if k in ("properties", "associations")}
                _, response = store.batch_create(object_type, {"inputs": [single]})
                return 201, response["results"][0]
            raise self._method_not_allowed(method, path)
        match = _OBJECT_RE.match(path)
        if match:
            object_type, object_id = unquote(match["type"]), unquote(match["id"])
            id_property = (query.get("idProperty") or [None])[-1]
            if method == "GET":
                return 200, store.get_object(
                    object_type,
                    object_id,
                    properties=self._list_param(query, "properties"),
                    id_property=id_property,
                    archived=self._flag(query, "archived"),
                )
            if method == "PATCH":
                body = self._json(raw)
                if not isinstance(body, dict):
                    raise ApiError(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
                item = {"id": object_id, "properties": body.get("properties", {})}
                if id_property:
                    item["idProperty"] = id_property
                status, response = store.batch_update(object_type, {"inputs": [item]})
                if status == 207:
                    raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND", context={"id": [object_id]})
                return 200, response["results"][0]
            if method == "DELETE":
                return store.batch_archive(object_type, {"inputs": [{"id": object_id}]})
            raise self._method_not_allowed(method, path)
        match = _PROPERTIES_RE.match(path)
        if match:
            object_type = unquote(match["type"])
            if method == "GET":
                return 200, store.list_properties(object_type)
            if method == "POST":
                return 201, store.create_property(object_type, self._json(raw))
            raise self._method_not_allowed(method, path)
        match = _PROPERTY_RE.match(path)
        if match:
            if method != "GET":
                raise self._method_not_allowed(method, path)
            return 200, store.get_property(unquote(match["type"]), unquote(match["name"]))
        match = _ASSOCIATIONS_RE.match(path)
        if match:
            action = _ASSOCIATION_ACTIONS.get((method, match["action"]))
            if action is None:
                raise self._method_not_allowed(method, path)
            body = self._json(raw) if method == "POST" else None
            return store.association_call(action, unquote(match["from"]), unquote(match["to"]), body)
        match = _SCHEMAS_RE.match(path)
        if match:
            if match["type"] is None and method == "GET":
                return 200, store.list_schemas(archived=self._flag(query, "archived"))
            if match["type"] is None and method == "POST":
                return 201, store.create_schema(self._json(raw))
            if match["type"] is not None and method == "GET":
                return 200, store.get_schema(unquote(match["type"]))
            raise self._method_not_allowed(method, path)
        match = _PIPELINES_RE.match(path) or _STAGES_RE.match(path)
        if match:
            return self._pipelines(method, path, match)
        raise ApiError(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    def _pipelines(self, method: str, path: str, match: re.Match[str]) -> tuple[int, Any]:
        if method != "GET":
            raise self._method_not_allowed(method, path)
        object_type = unquote(match["type"])
        pipeline_id = unquote(match["pipeline"]) if match["pipeline"] else None
        if pipeline_id is None:
            return 200, self.store.list_pipelines(object_type)
        if match.re is _PIPELINES_RE:
            return 200, self.store.get_pipeline(object_type, pipeline_id)
        if match["stage"]:
            return 200, self.store.get_stage(object_type, pipeline_id, unquote(match["stage"]))
        return 200, self.store.list_stages(object_type, pipeline_id)

    @staticmethod
    def _method_not_allowed(method: str, path: str) -> ApiError:
        return ApiError(405, f"Method {method} is not supported for {path}", "METHOD_NOT_ALLOWED")
