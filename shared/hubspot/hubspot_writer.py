"""HubSpot through the official SDK: the portal schema, pipelines and custom objects, batch
upsert/update/read.

One generated API object per thread (the SDK's ``ApiClient.last_response`` is not thread
safe); every call goes through the shared ``RateBudget``, retries transient failures a few
times with the delay HubSpot asks for, and otherwise raises a classified hubsync error.

Every method takes the object type as the configuration names it. A custom object's short name
``p_<name>`` is sent as its fully qualified name (HubSpot's object endpoints take that or the
objectTypeId), found once through ``GET /crm/v3/schemas``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from shared.errors import Action, BatchValidationError, ConfigurationError, RetryableError, UnknownObjectType, judge
from shared.hubspot.error_handler import classify_exception, conflict_error
from shared.hubspot.rate_budget import PacedBudget, RateBudget
from shared.mapping.data_validator import PortalSchema, PropertyDef
from shared.mapping.field_mapper import match_value
from shared.mapping.object_types import CustomObject, find_custom, is_custom, unknown_custom
from shared.mapping.pipelines import Pipelines

T = TypeVar("T")
MAX_BATCH = 100
MAX_LINKS = 2000  # inputs per v4 association batch call
MAX_IN_PROCESS_WAIT = 30.0  # seconds; longer waits go back to the queue as a delayed message


@dataclass(frozen=True)
class WriteResult:
    hubspot_id: str
    id_value: str | None
    new: bool
    properties: dict[str, Any]
    created_at: dt.datetime | None = None  # when HubSpot made the record (aware, UTC)


def _retry_in_call(err: BaseException) -> bool:
    """A transient failure worth a short wait in this call; longer waits go back to the queue."""
    verdict = judge(err)
    return (verdict.transient and verdict.action in (Action.RETRY, Action.DEFER)
            and (verdict.delay or 0) <= MAX_IN_PROCESS_WAIT)


def _wait(retry_state: Any) -> float:
    verdict = judge(retry_state.outcome.exception())
    if verdict.paced:  # the budget holds the next attempt until HubSpot's window has room
        return 0.0
    return verdict.delay if verdict.delay is not None else min(2.0 ** retry_state.attempt_number, 30.0)


class HubSpotWriter:
    def __init__(
        self,
        token: SecretStr,
        base_url: str | None = None,
        budget: RateBudget | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        client_side_validation: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token = token
        self.base_url = (base_url or "https://api.hubapi.com").rstrip("/")
        self.budget = budget or PacedBudget(100)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._csv = client_side_validation
        self._sleep = sleep
        self._local = threading.local()
        self._lock = threading.Lock()
        self.api_calls = 0
        self._custom: list[CustomObject] | None = None  # the portal's custom objects, once listed

    def __repr__(self) -> str:
        return f"HubSpotWriter(base_url={self.base_url!r}, token=**********)"

    # -- SDK plumbing --

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from hubspot import HubSpot

            client = HubSpot(access_token=self._token.get_secret_value(), host=self.base_url,
                             client_side_validation=self._csv)
            self._local.client = client
            self._local.batch = client.crm.objects.batch_api
            self._local.properties = client.crm.properties.core_api
            self._local.links = client.crm.associations.v4.batch_api
            self._local.link_types = client.crm.associations.v4.schema.definitions_api
            self._local.pipelines = client.crm.pipelines.pipelines_api
            self._local.schemas = client.crm.schemas.core_api
        return client

    def _api(self, name: str) -> Any:
        self._client()
        return getattr(self._local, name)

    def _call(self, what: str, fn: Callable[[], tuple[Any, int, Any]]) -> tuple[Any, int]:
        def attempt() -> tuple[Any, int]:
            self.budget.acquire()
            with self._lock:
                self.api_calls += 1
            self._local.calls = getattr(self._local, "calls", 0) + 1
            try:
                data, status, headers = fn()
            except Exception as err:  # noqa: BLE001 - classified below
                self.budget.observe(getattr(err, "headers", None))
                classified = classify_exception(err, what)
                if judge(classified).paced:  # 429 for the rolling window: hold every caller back
                    self.budget.pause(MAX_IN_PROCESS_WAIT)
                raise classified from None
            self.budget.observe(dict(headers or {}))
            return data, status

        retrying = Retrying(
            # a long wait (HubSpot's daily limit) is not slept through here: the queue defers it
            retry=retry_if_exception(_retry_in_call),
            stop=stop_after_attempt(self.max_attempts),
            wait=_wait,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(attempt)

    def calls_in_thread(self) -> int:
        """Calls made by the current thread (a worker thread's batches are its own)."""
        return getattr(self._local, "calls", 0)

    # -- object types --

    def custom_objects(self, refresh: bool = False) -> list[CustomObject]:
        """The portal's custom objects (one call, then remembered; ``refresh`` lists them again)."""
        if self._custom is None or refresh:
            api = self._api("schemas")
            data, _ = self._call("GET /crm/v3/schemas", lambda: _json(api.get_all_with_http_info(
                archived=False, _request_timeout=self.timeout, _preload_content=False)))
            self._custom = [CustomObject.from_api(s) for s in data.get("results") or []]
        return self._custom

    def api_type(self, object_type: str) -> str:
        """The name HubSpot's endpoints take for ``object_type``: a custom object's short name
        ``p_<name>`` becomes its fully qualified name; every other name is sent as it is."""
        if not (object_type.startswith("p_") and is_custom(object_type)):
            return object_type
        found = find_custom(object_type, self.custom_objects())
        if found is None:  # made since the list was read?
            found = find_custom(object_type, self.custom_objects(refresh=True))
        if found is None:
            raise UnknownObjectType(unknown_custom(object_type, self._custom or []))
        return found.fully_qualified_name

    # -- schema --

    def fetch_schema(self, object_type: str) -> PortalSchema:
        """The portal's property definitions of ``object_type`` (one call)."""
        api = self._api("properties")
        name = self.api_type(object_type)
        try:
            data, _ = self._call(
                f"GET /crm/v3/properties/{name}",
                lambda: api.get_all_with_http_info(name, archived=False, _request_timeout=self.timeout),
            )
        except ConfigurationError as err:
            # error_handler's 404 text; "404" anywhere in it also matched a 401's correlation id
            if str(err).startswith("HubSpot answered 404"):
                raise UnknownObjectType(
                    f"HubSpot has no object type {object_type!r}: check object_type in the configuration"
                ) from None
            raise
        return PortalSchema(object_type, [PropertyDef.from_sdk(p) for p in data.results or []])

    def fetch_pipelines(self, object_type: str) -> Pipelines:
        """The pipelines of deals or tickets, with their stages (one call)."""
        api = self._api("pipelines")
        data, _ = self._call(
            f"GET /crm/v3/pipelines/{object_type}",
            lambda: _json(api.get_all_with_http_info(object_type, _request_timeout=self.timeout,
                                                     _preload_content=False)),
        )
        return Pipelines.from_api(object_type, data)

    # -- writes --

    def upsert(self, object_type: str, id_property: str,
               items: Sequence[tuple[str, dict[str, str]]]) -> list[WriteResult]:
        """Create or update by ``id_property``; items are (id value, properties)."""
        _check_size(items)  # the body as HubSpot's JSON names it: the SDK sends a dict as it is
        body = {"inputs": [{"id": v, "idProperty": id_property, "properties": p} for v, p in items]}
        api = self._api("batch")
        name = self.api_type(object_type)
        data, _status = self._call(
            f"POST /crm/v3/objects/{name}/batch/upsert",
            lambda: _json(api.upsert_with_http_info(name, body, _request_timeout=self.timeout,
                                                    _preload_content=False)),
        )
        errors = data.get("errors") or []
        if errors:
            # a 207 from batch/upsert: some inputs were refused; split the batch to find them
            first = errors[0]
            text = f"{first.get('category')}: {first.get('message')}"
            if first.get("category") == "CONFLICT":
                raise conflict_error(text, first.get("message") or "", 207)
            raise BatchValidationError(text, status=207, category=first.get("category"))
        return self._results(data, id_property, what="upsert")

    def update(self, object_type: str, items: Sequence[tuple[str, dict[str, str]]],
               id_property: str | None = None) -> tuple[list[WriteResult], set[str]]:
        """Update by HubSpot record id; returns the results and the ids HubSpot no longer has."""
        _check_size(items)
        body = {"inputs": [{"id": i, "properties": p} for i, p in items]}
        api = self._api("batch")
        name = self.api_type(object_type)
        data, _status = self._call(
            f"POST /crm/v3/objects/{name}/batch/update",
            lambda: _json(api.update_with_http_info(name, body, _request_timeout=self.timeout,
                                                    _preload_content=False)),
        )
        missing: set[str] = set()
        for error in data.get("errors") or []:
            category, message = error.get("category") or "", error.get("message") or ""
            if category == "OBJECT_NOT_FOUND" or "not exist" in message:
                for ids in (error.get("context") or {}).values():
                    missing.update(ids)
            else:
                raise BatchValidationError(f"{category}: {message}", status=207, category=category)
        return self._results(data, id_property, what="update"), missing

    def read(self, object_type: str, ids: Sequence[str], properties: Sequence[str],
             id_property: str | None = None) -> dict[str, dict[str, Any]]:
        """Current values, by id (or by ``id_property`` value); absent records are left out."""
        if not ids:
            return {}
        if id_property:
            properties = list(dict.fromkeys([*properties, id_property]))  # to match results to inputs
        body: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": list(properties),
                                "propertiesWithHistory": []}
        if id_property:
            body["idProperty"] = id_property
        api = self._api("batch")
        name = self.api_type(object_type)
        data, _ = self._call(
            f"POST /crm/v3/objects/{name}/batch/read",
            lambda: _json(api.read_with_http_info(name, body, archived=False, _request_timeout=self.timeout,
                                                  _preload_content=False)),
        )
        out = {}
        for result in data.get("results") or []:
            props = dict(result.get("properties") or {})
            rid = str(result.get("id"))
            key = props.get(id_property, rid) if id_property else rid
            key = match_value(object_type, id_property, str(key)) if id_property and key else key
            out[str(key)] = {"id": rid, "properties": props}
        return out

    # -- associations (v4) --

    def association_types(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        """The association types from ``from_type`` to ``to_type``: ``{category, typeId, label}``
        (label None: the unlabelled default)."""
        api = self._api("link_types")
        from_type, to_type = self.api_type(from_type), self.api_type(to_type)
        data, _ = self._call(
            f"GET /crm/v4/associations/{from_type}/{to_type}/labels",
            lambda: _json(api.get_all_with_http_info(from_type, to_type, _request_timeout=self.timeout,
                                                     _preload_content=False)),
        )
        return list(data.get("results") or [])

    def associate(self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]],
                  category: str, type_id: int) -> dict[tuple[str, str], str]:
        """Link each (from id, to id) with one association type, in calls of at most
        ``MAX_LINKS``; returns the pairs HubSpot refused, with its reason (a record gone)."""
        refused: dict[tuple[str, str], str] = {}
        for chunk, data in self._link_calls("batch/create", "create_with_http_info", from_type, to_type, pairs,
                                            category, type_id):
            for error in data.get("errors") or []:
                context = error.get("context") or {}
                reason = f"{error.get('category')}: {error.get('message')}"
                bad_from = {str(i) for i in context.get("fromObjectId") or []}
                bad_to = {str(i) for i in context.get("toObjectId") or []}
                hit = [(f, t) for f, t in chunk if f in bad_from or t in bad_to]
                if not hit:  # an error that names no input: the chunk is not known to be linked
                    raise RetryableError(f"HubSpot refused association inputs without naming them: {reason}")
                refused.update({pair: reason for pair in hit})
        return refused

    def unlink(self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]], category: str,
               type_id: int) -> None:
        """Remove one association type between each pair (other types, a person's labels, stay)."""
        for _ in self._link_calls("batch/labels/archive", "archive_labels_with_http_info", from_type, to_type,
                                  pairs, category, type_id):
            pass

    def _link_calls(self, endpoint: str, method: str, from_type: str, to_type: str,
                    pairs: Sequence[tuple[str, str]], category: str,
                    type_id: int) -> Iterator[tuple[list[tuple[str, str]], dict[str, Any]]]:
        """One v4 batch call per ``MAX_LINKS`` pairs, each with one association type; yields each
        chunk with HubSpot's answer."""
        api = self._api("links")
        from_type, to_type = self.api_type(from_type), self.api_type(to_type)
        for start in range(0, len(pairs), MAX_LINKS):
            chunk = list(pairs[start:start + MAX_LINKS])
            body = {"inputs": [{"from": {"id": f}, "to": {"id": t},
                                "types": [{"associationCategory": category, "associationTypeId": type_id}]}
                               for f, t in chunk]}
            data, _ = self._call(
                f"POST /crm/v4/associations/{from_type}/{to_type}/{endpoint}",
                lambda body=body: _json(getattr(api, method)(from_type, to_type, body, _request_timeout=self.timeout,
                                                            _preload_content=False)),
            )
            yield chunk, data

    def _results(self, data: dict[str, Any], id_property: str | None, what: str) -> list[WriteResult]:
        if not data:
            raise RetryableError(f"HubSpot {what} answered with no body")
        results = []
        for r in data.get("results") or []:
            props = dict(r.get("properties") or {})
            value = props.get(id_property) if id_property else None
            results.append(WriteResult(str(r.get("id")), value, bool(r.get("new", False)), props,
                                       _timestamp(r.get("createdAt"))))
        return results


def _json(response: Any) -> tuple[dict[str, Any], int, Any]:
    """The SDK's raw answer (``_preload_content=False``: the SDK still signs the request, raises
    its ApiException on non-2xx and applies its retry policy, but builds no model objects, whose
    date parsing cost more than the call): (JSON body, status, headers)."""
    try:
        raw = response.data
    finally:
        response.release_conn()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise RetryableError(f"HubSpot answered {response.status} with a body that is not JSON") from None
    return (data if isinstance(data, dict) else {}), response.status, response.headers


def _timestamp(value: Any) -> dt.datetime | None:
    """HubSpot's ISO-8601 time (``2026-01-02T03:04:05.678Z``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _check_size(items: Sequence[Any]) -> None:
    if not 0 < len(items) <= MAX_BATCH:
        raise ValueError(f"a HubSpot batch holds 1 to {MAX_BATCH} inputs, not {len(items)}")
