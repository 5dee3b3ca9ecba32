"""The emulated portal: property definitions, records, custom object schemas, pipelines,
associations and the CRM batch semantics.

All state sits behind one re-entrant lock. With a ``data_file`` the records, the id
counter, the added properties, schemas, pipelines, association types and associations are
saved (atomic replace) after every write and reloaded whenever another process has replaced
the file, so several emulator processes can share one portal. Writers also hold an ``flock`` on
``<data_file>.lock`` where the platform has one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .associations import FIRST_EMULATOR_TYPE_ID, Associations, AssociationTypes, Links, type_specs
from .batches import batch_inputs, batch_response, id_of, properties_of
from .errors import ApiError, standard_error, validation_error
from .pipelines import PIPELINE_PROPERTIES, check_stage, default_pipelines, make_pipeline, ordered, property_options
from .properties import (
    OBJECT_TYPE_IDS,
    STANDARD_OBJECT_TYPES,
    canonical_object_type,
    complete_definition,
    created_properties,
    default_definitions,
    default_read_properties,
    make_options,
    modified_properties,
    now_iso,
    singular,
    system_definitions,
    system_properties,
)
from .schemas import (
    DEFAULT_PORTAL_ID,
    check_name,
    fully_qualified_name,
    make_schema,
    name_of_key,
    object_type_id,
    schema_key,
    schema_view,
)
from .validation import is_multi_select, validate_properties, validate_value, validation_message

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DATA_FILE_VERSION = 1


def _not_found_message(object_type: str) -> str:
    return (
        f"Could not get some {singular(object_type).upper()} objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )


class Store:
    """Thread-safe in-memory (optionally file-backed) HubSpot portal."""

    def __init__(self, data_file: str | os.PathLike[str] | None = None, portal_id: int = DEFAULT_PORTAL_ID) -> None:
        self._lock = threading.RLock()
        self._data_file = Path(data_file) if data_file else None
        self.portal_id = portal_id
        self._schemas: dict[str, dict[str, Any]] = {}  # custom objects by key (p_<name>)
        self._next_schema_number = 1
        self._aliases: dict[str, str] = {}  # 2-<n>, p<portal>_<name> and p_<name> -> key
        self._associations = Associations()
        self._disk_signature: tuple[int, int, int] | None = None
        self._definitions: dict[str, dict[str, dict[str, Any]]] = {}
        self._custom_definitions: dict[str, dict[str, dict[str, Any]]] = {}
        self._pipelines: dict[str, dict[str, dict[str, Any]]] = {}
        self._custom_pipelines: dict[str, dict[str, dict[str, Any]]] = {}
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._next_id = 1
        self._unique: dict[str, dict[str, dict[str, str]]] = {}
        with self._lock:
            self._rebuild()
            self._load_if_changed()
            self._reindex_all()

    # ------------------------------------------------------------------ locking and persistence
    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            self._load_if_changed()
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock, self._file_lock():
            self._load_if_changed()
            yield
            self._save()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self._data_file is None or fcntl is None:
            yield
            return
        self._data_file.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self._data_file.with_name(self._data_file.name + ".lock")
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _signature(self) -> tuple[int, int, int] | None:
        assert self._data_file is not None
        try:
            st = os.stat(self._data_file)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load_if_changed(self) -> None:
        if self._data_file is None:
            return
        signature = self._signature()
        if signature is None or signature == self._disk_signature:
            return
        text = self._data_file.read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else {}
        if not isinstance(data, dict):
            raise ValueError(f"{self._data_file}: not an emulator data file")
        self._records = data.get("records") or {}
        self._next_id = int(data.get("nextId") or 1)
        self._custom_definitions = data.get("customProperties") or {}
        self._custom_pipelines = data.get("pipelines") or {}
        self._schemas = data.get("schemas") or {}
        self._next_schema_number = int(data.get("nextSchemaNumber") or 1)
        self._associations = Associations(
            AssociationTypes(data.get("associationTypes"), int(data.get("nextAssociationTypeId") or FIRST_EMULATOR_TYPE_ID)),
            Links(data.get("associations")),
        )
        self._rebuild()
        self._disk_signature = signature
        self._reindex_all()

    def _rebuild(self) -> None:
        """Derive the definitions, custom object names and pipelines from the defaults and what was added."""
        for key in self._custom_definitions:
            name = name_of_key(key)
            if key not in self._schemas and name is not None:  # a data file from before schemas
                self._register_schema(name, [], primary_display="hs_object_id")
        self._definitions = default_definitions()
        self._aliases = {}
        for key, schema in self._schemas.items():
            self._definitions[key] = system_definitions(key)
            for alias in (key, object_type_id(schema), fully_qualified_name(schema, self.portal_id)):
                self._aliases[alias] = key
        for object_type, defs in self._custom_definitions.items():
            target = self._definitions.setdefault(object_type, system_definitions(object_type))
            target.update(copy.deepcopy(defs))
        self._pipelines = default_pipelines()
        for object_type, added in self._custom_pipelines.items():
            self._pipelines.setdefault(object_type, {}).update(copy.deepcopy(added))
        for object_type in PIPELINE_PROPERTIES:
            self._sync_pipeline_options(object_type)

    def _sync_pipeline_options(self, object_type: str) -> None:
        """The pipeline and stage properties offer every pipeline and stage id as an option."""
        defs = self._definitions.get(object_type, {})
        pipeline_options, stage_options = property_options(self._pipelines.get(object_type, {}))
        for name, pairs in zip(PIPELINE_PROPERTIES[object_type], (pipeline_options, stage_options), strict=True):
            if name in defs:
                defs[name]["options"] = make_options(pairs)

    def _save(self) -> None:
        if self._data_file is None:
            return
        payload = {
            "version": DATA_FILE_VERSION,
            "nextId": self._next_id,
            "records": self._records,
            "customProperties": self._custom_definitions,
            "pipelines": self._custom_pipelines,
            "schemas": self._schemas,
            "nextSchemaNumber": self._next_schema_number,
            "associationTypes": self._associations.types.added,
            "nextAssociationTypeId": self._associations.types.next_type_id,
            "associations": self._associations.links.saved(),
        }
        directory = self._data_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=self._data_file.name + ".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
            os.replace(tmp_name, self._data_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        self._disk_signature = self._signature()

    # ------------------------------------------------------------------ indexes and helpers
    def _unique_properties(self, object_type: str) -> list[str]:
        defs = self._definitions.get(object_type, {})
        names = [n for n, d in defs.items() if d.get("hasUniqueValue")]
        if object_type == "contacts" and "email" in defs:
            names.insert(0, "email")
        return names

    @staticmethod
    def _norm(object_type: str, prop: str, value: str) -> str:
        """A unique value as HubSpot compares it: a contact's email case-blind, anything else exactly."""
        return value.lower() if prop == "email" and object_type == "contacts" else value

    def _reindex_all(self) -> None:
        self._unique = {}
        for object_type in set(self._definitions) | set(self._records):
            self._reindex(object_type)

    def _reindex(self, object_type: str) -> None:
        index: dict[str, dict[str, str]] = {p: {} for p in self._unique_properties(object_type)}
        for rid, rec in sorted(self._records.get(object_type, {}).items(), key=lambda kv: int(kv[0])):
            if rec.get("archived"):
                continue
            for prop, values in index.items():
                value = rec["properties"].get(prop)
                if value:
                    values.setdefault(self._norm(object_type, prop, value), rid)
        self._unique[object_type] = index

    def _canonical(self, object_type: str) -> str:
        """The store's key of a type: ``contacts`` for ``0-1``, ``p_cars`` for ``2-1`` or ``p12345678_cars``."""
        canonical = canonical_object_type(object_type)
        if canonical in self._definitions:
            return canonical
        return self._aliases.get(object_type, object_type)

    def _require_type(self, object_type: str) -> str:
        canonical = self._canonical(object_type)
        if canonical not in self._definitions:
            raise ApiError(404, f"Unable to infer object type from: {object_type}", "OBJECT_NOT_FOUND")
        return canonical

    def _check_id_property(
        self, object_type: str, id_property: str, *, allow_email: bool, allow_object_id: bool
    ) -> None:
        if id_property == "hs_object_id":
            if allow_object_id:
                return
            raise validation_error("Unable to perform update/upsert by non-unique hs_object_id property")
        definition = self._definitions[object_type].get(id_property)
        if definition is None:
            raise validation_error(f'Property "{id_property}" does not exist')
        if id_property == "email" and object_type == "contacts":
            if allow_email:
                return
            raise validation_error(
                "Unable to perform batch update by email: use record ids (hs_object_id) "
                "or a custom property with unique values as idProperty"
            )
        if not definition.get("hasUniqueValue"):
            raise validation_error(f"Unable to perform update/upsert by non-unique {id_property} property")

    def _lookup(self, object_type: str, id_property: str, value: str) -> str | None:
        if id_property == "hs_object_id":
            rec = self._records.get(object_type, {}).get(value)
            return value if rec is not None and not rec.get("archived") else None
        return self._unique.get(object_type, {}).get(id_property, {}).get(self._norm(object_type, id_property, value))

    def _check_duplicates(self, keys: list[tuple[str, str, str]]) -> None:
        seen: set[tuple[str, str]] = set()
        duplicates: list[str] = []
        for id_property, value, normalized in keys:
            key = (id_property, normalized)
            if key in seen:
                duplicates.append(value)
            seen.add(key)
        if duplicates:
            raise validation_error(
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique"
            )

    def _conflicts(
        self, object_type: str, plan: list[tuple[str | None, dict[str, str]]]
    ) -> dict[int, str]:
        """Unique-value conflicts of planned writes ``(record id or None for new, changes)``.

        Checked in order against existing records and against earlier planned writes;
        a conflicting write claims nothing. Returns ``{plan index: message}``.
        """
        index = self._unique.get(object_type, {})
        claims: dict[tuple[str, str], str] = {}
        conflicts: dict[int, str] = {}
        for i, (rid, changes) in enumerate(plan):
            owner_key = rid if rid is not None else f"new:{i}"
            keys: list[tuple[str, str]] = []
            message = None
            for prop in index:
                value = changes.get(prop)
                if not value:
                    continue
                key = (prop, self._norm(object_type, prop, value))
                owner = index[prop].get(key[1])
                if owner is not None and owner != rid:
                    if prop == "email" and object_type == "contacts":
                        message = f"{singular(object_type).capitalize()} already exists. Existing ID: {owner}"
                    else:
                        message = (
                            f'A {singular(object_type)} with the value "{value}" for the unique property '
                            f'"{prop}" already exists. Existing ID: {owner}'
                        )
                    break
                claimer = claims.get(key)
                if claimer is not None and claimer != owner_key:
                    message = f'Duplicate value "{value}" for the unique property "{prop}" in batch input'
                    break
                keys.append(key)
            if message:
                conflicts[i] = message
                continue
            for key in keys:
                claims[key] = owner_key
        return conflicts

    def _write_errors(self, object_type: str, rid: str | None, changes: dict[str, str]) -> list[dict[str, Any]]:
        """Checks of one write that need the record (``rid``; None for a new one) beside the values."""
        current = self._records[object_type][rid]["properties"] if rid is not None else None
        return check_stage(object_type, self._pipelines.get(object_type, {}), current, changes)

    def _create_associations(self, object_type: str, items: Any) -> list[tuple[str, str, dict[str, Any]]]:
        """``(to type, to id, type spec)`` of a create input's ``associations``; 400 for a type id
        that associates ``object_type`` with nothing (the type id alone names the other object)."""
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(a, dict) for a in items):
            raise validation_error("Invalid input JSON: 'associations' must be an array of objects")
        types = self._associations.types
        found = []
        for item in items:
            to_id = id_of(item.get("to"))
            for category, type_id in type_specs(item):
                to_type = types.find_target(object_type, type_id, category)
                spec = types.get(object_type, to_type, type_id) if to_type is not None else None
                if to_type is None or spec is None:
                    raise validation_error(
                        f"associationTypeId {type_id} ({category}) is not a valid association type from {object_type}",
                        context={"associationTypeId": [str(type_id)]},
                    )
                found.append((to_type, to_id, spec))
        return found

    def _absent_targets(self, targets: list[tuple[str, str, dict[str, Any]]]) -> str | None:
        for to_type, to_id, _ in targets:
            if not self.exists(to_type, to_id):
                return f"Could not associate: no {self.singular(to_type)} with id {to_id} exists."
        return None

    def _missing_required(self, object_type: str, changes: dict[str, str]) -> list[str]:
        """The required properties of a custom object that a new record's values leave empty."""
        schema = self._schemas.get(object_type)
        return [n for n in schema["requiredProperties"] if not changes.get(n)] if schema else []

    def _required_message(self, object_type: str) -> str:
        return f"Error creating {self._schemas[object_type]['name'].upper()}. Some required properties were not set."

    def _new_record(self, object_type: str, now: str) -> dict[str, Any]:
        rid = str(self._next_id)
        self._next_id += 1
        props = {"hs_object_id": rid}
        for name in (*created_properties(object_type), *modified_properties(object_type)):
            props[name] = now
        rec = {"id": rid, "properties": props, "createdAt": now, "updatedAt": now, "archived": False}
        self._records.setdefault(object_type, {})[rid] = rec
        return rec

    def _apply(
        self, object_type: str, rec: dict[str, Any], changes: dict[str, str], now: str
    ) -> dict[str, str]:
        """Write validated values into a record; returns the properties to echo back."""
        defs = self._definitions[object_type]
        index = self._unique.setdefault(object_type, {})
        props = rec["properties"]
        for name, value in changes.items():
            old = props.get(name)
            if value == "":
                props.pop(name, None)
            elif value.startswith(";") and is_multi_select(defs[name]):
                merged = [v for v in (old or "").split(";") if v]
                merged += [v for v in value.split(";") if v and v not in merged]
                props[name] = ";".join(merged)
            else:
                props[name] = value
            if name in index:
                if old and index[name].get(self._norm(object_type, name, old)) == rec["id"]:
                    del index[name][self._norm(object_type, name, old)]
                if props.get(name):
                    index[name][self._norm(object_type, name, props[name])] = rec["id"]
        rec["updatedAt"] = now
        for name in modified_properties(object_type):
            props[name] = now
        echo = dict(props)
        for name, value in changes.items():
            if value == "":
                echo[name] = ""
        return echo

    @staticmethod
    def _public(rec: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": rec["id"],
            "properties": properties,
            "createdAt": rec["createdAt"],
            "updatedAt": rec["updatedAt"],
            "archived": bool(rec.get("archived")),
        }
        if rec.get("archivedAt"):
            out["archivedAt"] = rec["archivedAt"]
        return out

    def _select(self, object_type: str, rec: dict[str, Any], requested: list[str] | None) -> dict[str, Any]:
        defs = self._definitions[object_type]
        names = list(requested) if requested else list(default_read_properties(object_type))
        names += [n for n in system_properties(object_type) if n not in names]
        props = rec["properties"]
        return {n: props.get(n) for n in names if n in defs}

    # ------------------------------------------------------------------ batch endpoints
    def batch_upsert(self, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = batch_inputs(body)
        with self._writing():
            t = self._require_type(object_type)
            defs = self._definitions[t]
            parsed = []
            for item in inputs:
                id_property = item.get("idProperty") or "hs_object_id"
                value = id_of(item)
                self._check_id_property(t, id_property, allow_email=True, allow_object_id=False)
                parsed.append((id_property, value, properties_of(item), item.get("objectWriteTraceId")))
            self._check_duplicates([(p, v, self._norm(t, p, v)) for p, v, _, _ in parsed])

            errors: list[dict[str, Any]] = []
            all_changes: list[dict[str, str]] = []
            for id_property, value, props, _ in parsed:
                changes, errs = validate_properties(defs, props, t)
                normalized, id_error = validate_value(id_property, defs[id_property], value, t)
                errors += errs
                if id_error:
                    errors.append(id_error)
                changes[id_property] = normalized
                all_changes.append(changes)
            if errors:
                raise validation_error(validation_message(errors))

            plan = [
                (self._lookup(t, p, v), changes)
                for (p, v, _, _), changes in zip(parsed, all_changes, strict=True)
            ]
            problems = [e for rid, changes in plan for e in self._write_errors(t, rid, changes)]
            if problems:
                raise validation_error(validation_message(problems))
            for rid, changes in plan:
                absent = self._missing_required(t, changes) if rid is None else []
                if absent:
                    raise validation_error(self._required_message(t), context={"properties": absent})
            conflicts = self._conflicts(t, plan)
            if conflicts:
                raise ApiError(409, conflicts[min(conflicts)], "CONFLICT")

            now = now_iso()
            results = []
            for (rid, changes), (_, _, _, trace) in zip(plan, parsed, strict=True):
                rec = self._records[t][rid] if rid is not None else self._new_record(t, now)
                out = self._public(rec, self._apply(t, rec, changes, now))
                out["new"] = rid is None
                if trace:
                    out["objectWriteTraceId"] = trace
                results.append(out)
            return 200, batch_response(results, started)

    def batch_create(self, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = batch_inputs(body)
        with self._writing():
            t = self._require_type(object_type)
            defs = self._definitions[t]
            parsed = []
            links: list[list[tuple[str, str, dict[str, Any]]]] = []
            for item in inputs:
                links.append(self._create_associations(t, item.get("associations")))
                parsed.append((properties_of(item), item.get("objectWriteTraceId")))
            traces = [trace for _, trace in parsed]
            trace_mode = bool(traces) and all(isinstance(tr, str) and tr for tr in traces) and len(
                set(traces)
            ) == len(traces)

            validated = [validate_properties(defs, props, t) for props, _ in parsed]
            for changes, errs in validated:
                if not errs:
                    errs += self._write_errors(t, None, changes)
            errors: list[tuple[int, dict[str, Any]]] = []
            missing = [self._missing_required(t, changes) for changes, _ in validated]
            absent_targets = [self._absent_targets(targets) for targets in links]
            if not trace_mode:
                problems = [e for _, errs in validated for e in errs]
                if problems:
                    raise validation_error(validation_message(problems))
                for absent in missing:
                    if absent:
                        raise validation_error(self._required_message(t), context={"properties": absent})
                for absent_target in absent_targets:
                    if absent_target:
                        raise validation_error(absent_target)
                conflicts = self._conflicts(t, [(None, changes) for changes, _ in validated])
                if conflicts:
                    raise ApiError(409, conflicts[min(conflicts)], "CONFLICT")
                valid = list(range(len(parsed)))
            else:
                candidates = []
                for i, (_, errs) in enumerate(validated):
                    if errs:
                        context = {"objectWriteTraceId": [traces[i]]}
                        errors.append(
                            (i, standard_error("VALIDATION_ERROR", validation_message(errs), context))
                        )
                    elif missing[i]:
                        context = {"objectWriteTraceId": [traces[i]], "properties": missing[i]}
                        errors.append((i, standard_error("VALIDATION_ERROR", self._required_message(t), context)))
                    elif absent_targets[i]:
                        context = {"objectWriteTraceId": [traces[i]]}
                        errors.append((i, standard_error("VALIDATION_ERROR", absent_targets[i], context)))
                    else:
                        candidates.append(i)
                conflicts = self._conflicts(t, [(None, validated[i][0]) for i in candidates])
                for position, message in conflicts.items():
                    i = candidates[position]
                    context = {"objectWriteTraceId": [traces[i]]}
                    errors.append((i, standard_error("CONFLICT", message, context)))
                valid = [i for position, i in enumerate(candidates) if position not in conflicts]

            now = now_iso()
            results = []
            for i in valid:
                rec = self._new_record(t, now)
                out = self._public(rec, self._apply(t, rec, validated[i][0], now))
                for to_type, to_id, spec in links[i]:
                    self._associations.add(t, rec["id"], to_type, to_id, spec)
                if traces[i]:
                    out["objectWriteTraceId"] = traces[i]
                results.append(out)
            if errors:
                errors.sort(key=lambda pair: pair[0])
                return 207, batch_response(results, started, [e for _, e in errors])
            return 201, batch_response(results, started)

    def batch_update(self, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = batch_inputs(body)
        with self._writing():
            t = self._require_type(object_type)
            defs = self._definitions[t]
            parsed = []
            for item in inputs:
                id_property = item.get("idProperty") or "hs_object_id"
                value = id_of(item)
                self._check_id_property(t, id_property, allow_email=False, allow_object_id=True)
                props = properties_of(item, required=True)
                parsed.append((id_property, value, props, item.get("objectWriteTraceId")))
            self._check_duplicates([(p, v, self._norm(t, p, v)) for p, v, _, _ in parsed])

            validated = [validate_properties(defs, props, t) for _, _, props, _ in parsed]
            problems = [e for _, errs in validated for e in errs]
            if problems:
                raise validation_error(validation_message(problems))

            plan: list[tuple[str | None, dict[str, str]]] = []
            targets: list[tuple[int, str]] = []
            missing: list[str] = []
            for i, (id_property, value, _, _) in enumerate(parsed):
                changes = validated[i][0]
                rid = self._lookup(t, id_property, value)
                if rid is None:
                    missing.append(value)
                else:
                    targets.append((i, rid))
                    plan.append((rid, changes))
            problems = [e for rid, changes in plan for e in self._write_errors(t, rid, changes)]
            if problems:
                raise validation_error(validation_message(problems))
            conflicts = self._conflicts(t, plan)
            if conflicts:
                raise ApiError(409, conflicts[min(conflicts)], "CONFLICT")

            now = now_iso()
            results = []
            for i, rid in targets:
                rec = self._records[t][rid]
                out = self._public(rec, self._apply(t, rec, validated[i][0], now))
                trace = parsed[i][3]
                if trace:
                    out["objectWriteTraceId"] = trace
                results.append(out)
            if missing:
                errors = [
                    standard_error("OBJECT_NOT_FOUND", _not_found_message(t), {"ids": [value]})
                    for value in missing
                ]
                return 207, batch_response(results, started, errors)
            return 200, batch_response(results, started)

    def batch_read(self, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = batch_inputs(body)
        id_property = body.get("idProperty") or "hs_object_id"
        requested = body.get("properties") or []
        if not isinstance(requested, list) or not all(isinstance(p, str) for p in requested):
            raise validation_error("Invalid input JSON: 'properties' must be an array of property names")
        with self._reading():
            t = self._require_type(object_type)
            self._check_id_property(t, id_property, allow_email=True, allow_object_id=True)
            results: list[dict[str, Any]] = []
            missing: list[str] = []
            seen: set[str] = set()
            for item in inputs:
                value = id_of(item)
                key = self._norm(t, id_property, value)
                if key in seen:
                    continue
                seen.add(key)
                rid = self._lookup(t, id_property, value)
                if rid is None:
                    missing.append(value)
                    continue
                rec = self._records[t][rid]
                results.append(self._public(rec, self._select(t, rec, requested)))
            if missing:
                errors = [standard_error("OBJECT_NOT_FOUND", _not_found_message(t), {"ids": missing})]
                return 207, batch_response(results, started, errors)
            return 200, batch_response(results, started)

    def batch_archive(self, object_type: str, body: Any) -> tuple[int, None]:
        inputs = batch_inputs(body)
        with self._writing():
            t = self._require_type(object_type)
            now = now_iso()
            index = self._unique.setdefault(t, {})
            for item in inputs:
                rec = self._records.get(t, {}).get(id_of(item))
                if rec is None or rec.get("archived"):
                    continue
                rec["archived"] = True
                rec["archivedAt"] = now
                rec["updatedAt"] = now
                self._associations.links.drop_record(t, rec["id"])
                for prop, values in index.items():
                    value = rec["properties"].get(prop)
                    if value and values.get(self._norm(t, prop, value)) == rec["id"]:
                        del values[self._norm(t, prop, value)]
            return 204, None

    # ------------------------------------------------------------------ single-object endpoints
    def get_object(
        self,
        object_type: str,
        object_id: str,
        properties: list[str] | None = None,
        id_property: str | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        with self._reading():
            t = self._require_type(object_type)
            id_property = id_property or "hs_object_id"
            self._check_id_property(t, id_property, allow_email=True, allow_object_id=True)
            rec = None
            if archived and id_property == "hs_object_id":
                candidate = self._records.get(t, {}).get(object_id)
                rec = candidate if candidate and candidate.get("archived") else None
            else:
                rid = self._lookup(t, id_property, object_id)
                rec = self._records[t][rid] if rid is not None else None
            if rec is None:
                raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND",
                               context={"id": [object_id]})
            return self._public(rec, self._select(t, rec, properties))

    def list_objects(
        self,
        object_type: str,
        *,
        limit: int = 10,
        after: str | None = None,
        properties: list[str] | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        limit = max(1, min(limit, 100))
        with self._reading():
            t = self._require_type(object_type)
            records = sorted(self._records.get(t, {}).values(), key=lambda r: int(r["id"]))
            records = [r for r in records if bool(r.get("archived")) == archived]
            if after:
                try:
                    cursor = int(after)
                except ValueError:
                    raise validation_error(f"Invalid paging cursor: {after}") from None
                records = [r for r in records if int(r["id"]) > cursor]
            page = records[:limit]
            results = [self._public(r, self._select(t, r, properties)) for r in page]
            body: dict[str, Any] = {"results": results}
            if len(records) > limit:
                next_after = page[-1]["id"]
                body["paging"] = {
                    "next": {"after": next_after, "link": f"/crm/v3/objects/{object_type}?after={next_after}"}
                }
            return body

    # ------------------------------------------------------------------ properties endpoints
    def list_properties(self, object_type: str) -> dict[str, Any]:
        with self._reading():
            t = self._require_type(object_type)
            return {"results": copy.deepcopy(list(self._definitions[t].values()))}

    def get_property(self, object_type: str, name: str) -> dict[str, Any]:
        with self._reading():
            t = self._require_type(object_type)
            definition = self._definitions[t].get(name)
            if definition is None:
                raise ApiError(404, f"Property {name} does not exist", "OBJECT_NOT_FOUND")
            return copy.deepcopy(definition)

    def create_property(self, object_type: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON: the request body must be a JSON object")
        with self._reading():
            t = self._require_type(object_type)
            if body.get("name") in self._definitions[t]:
                raise ApiError(409, f"Property named '{body.get('name')}' already exists.", "CONFLICT")
        try:
            return self.add_property(t, body)
        except ValueError as exc:
            raise validation_error(str(exc)) from None

    # ------------------------------------------------------------------ pipelines endpoints
    def _pipelines_of(self, object_type: str) -> tuple[str, dict[str, dict[str, Any]]]:
        t = self._require_type(object_type)
        if t not in PIPELINE_PROPERTIES:
            raise validation_error(f"Object type {object_type} does not support pipelines")
        return t, self._pipelines.get(t, {})

    def list_pipelines(self, object_type: str) -> dict[str, Any]:
        with self._reading():
            _, pipelines = self._pipelines_of(object_type)
            return {"results": copy.deepcopy(ordered(pipelines))}

    def get_pipeline(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        with self._reading():
            _, pipelines = self._pipelines_of(object_type)
            pipeline = pipelines.get(pipeline_id)
            if pipeline is None:
                raise ApiError(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND",
                               context={"pipelineId": [pipeline_id]})
            return copy.deepcopy(pipeline)

    def list_stages(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        return {"results": self.get_pipeline(object_type, pipeline_id)["stages"]}

    def get_stage(self, object_type: str, pipeline_id: str, stage_id: str) -> dict[str, Any]:
        for stage in self.get_pipeline(object_type, pipeline_id)["stages"]:
            if stage["id"] == stage_id:
                return stage
        raise ApiError(404, f"Unable to find stage {stage_id} in pipeline {pipeline_id}", "OBJECT_NOT_FOUND",
                       context={"stageId": [stage_id]})

    # ------------------------------------------------------------------ associations (v4)
    def exists(self, object_type: str, object_id: str) -> bool:
        """Whether a non-archived record of a canonical type has this id."""
        rec = self._records.get(object_type, {}).get(object_id)
        return rec is not None and not rec.get("archived")

    def object_type_id(self, object_type: str) -> str:
        """``0-1`` for contacts ..., ``2-<n>`` for a custom object (canonical type)."""
        if object_type in self._schemas:
            return object_type_id(self._schemas[object_type])
        return OBJECT_TYPE_IDS[object_type]

    def singular(self, object_type: str) -> str:
        """``contact`` ..., a custom object's name (canonical type), as HubSpot's messages say it."""
        if object_type in self._schemas:
            return str(self._schemas[object_type]["name"])
        return singular(object_type)

    def association_call(self, action: str, from_type: str, to_type: str, body: Any = None) -> tuple[int, Any]:
        """One v4 association endpoint: ``create``, ``default``, ``read``, ``archive``, ``archive_labels``,
        ``labels`` (GET) or ``create_label`` (POST .../labels)."""
        assoc = self._associations
        if action in ("read", "labels"):
            with self._reading():
                f, t = self._require_type(from_type), self._require_type(to_type)
                if action == "read":
                    return assoc.batch_read(self, f, t, body)
                return 200, assoc.list_labels(f, t)
        with self._writing():
            f, t = self._require_type(from_type), self._require_type(to_type)
            if action == "create":
                return assoc.batch_create(self, f, t, body)
            if action == "default":
                return assoc.associate_default(self, f, t, body)
            if action == "archive":
                return assoc.batch_archive(f, t, body)
            if action == "archive_labels":
                return assoc.archive_labels(f, t, body)
            if action == "create_label":
                return 200, assoc.create_label(f, t, body)
        raise ValueError(f"unknown association action {action!r}")

    def add_association_label(
        self, from_type: str, to_type: str, label: str, type_id: int | None = None, inverse_label: str | None = None
    ) -> dict[str, Any]:
        with self._writing():
            f, t = self._require_type(from_type), self._require_type(to_type)
            return self._associations.types.define(f, t, label=label, inverse_label=inverse_label, type_id=type_id)

    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None
    ) -> None:
        with self._writing():
            f, t = self._require_type(from_type), self._require_type(to_type)
            for object_type, object_id in ((f, from_id), (t, to_id)):
                if not self.exists(object_type, object_id):
                    raise ValueError(f"no {object_type} record {object_id}")
            types = self._associations.types
            spec = types.default(f, t) if type_id is None else types.get(f, t, type_id)
            if spec is None:
                raise ValueError(f"no association type {type_id} from {f} to {t}")
            self._associations.add(f, from_id, t, to_id, spec)

    def associations(self, from_type: str, to_type: str) -> list[tuple[str, str, int]]:
        with self._reading():
            return self._associations.links.triples(self._canonical(from_type), self._canonical(to_type))

    # ------------------------------------------------------------------ schemas endpoints
    def _schema_view(self, key: str) -> dict[str, Any]:
        return schema_view(self._schemas[key], self.portal_id, list(self._definitions[key].values()),
                           self._schema_associations(key))

    def _schema_associations(self, key: str) -> list[dict[str, Any]]:
        """The schema's ``associations``: its default association type to each associated object."""
        created = self._schemas[key]["createdAt"]
        return [
            {"id": str(spec["typeId"]), "fromObjectTypeId": self.object_type_id(key),
             "toObjectTypeId": self.object_type_id(to_type),
             "name": f"{self.singular(key)}_to_{self.singular(to_type)}", "createdAt": created, "updatedAt": created}
            for to_type, spec in self._associations.types.defaults_from(key)
        ]

    def list_schemas(self, archived: bool = False) -> dict[str, Any]:
        with self._reading():
            keys = sorted(self._schemas, key=lambda k: int(self._schemas[k]["id"]))
            return {"results": [self._schema_view(k) for k in keys if bool(self._schemas[k]["archived"]) == archived]}

    def get_schema(self, object_type: str) -> dict[str, Any]:
        with self._reading():
            key = self._aliases.get(object_type)
            if key is None:
                raise ApiError(404, f"Unable to find object type {object_type}", "OBJECT_NOT_FOUND",
                               context={"objectType": [object_type]})
            return self._schema_view(key)

    def create_schema(self, body: Any) -> dict[str, Any]:
        """``POST /crm/v3/schemas`` with an ``ObjectSchemaEgg``."""
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON: the request body must be a JSON object")
        missing = [f for f in ("name", "labels", "requiredProperties", "properties") if body.get(f) is None]
        if missing:
            raise validation_error(f"Invalid input JSON: Some required fields were not set: [{', '.join(missing)}]")
        name = body["name"]
        with self._reading():
            if isinstance(name, str) and schema_key(name) in self._schemas:
                raise ApiError(409, f"Object type with name {name} already exists", "CONFLICT")
        properties = body["properties"] if isinstance(body["properties"], list) else []
        try:
            return self.add_schema(
                name,
                properties=properties,
                required=body["requiredProperties"],
                primary_display=body.get("primaryDisplayProperty"),
                unique=[p["name"] for p in properties if isinstance(p, dict) and p.get("hasUniqueValue")],
                labels=body["labels"],
                searchable=body.get("searchableProperties"),
                secondary=body.get("secondaryDisplayProperties"),
                description=body.get("description"),
                associated_objects=body.get("associatedObjects"),
            )
        except ValueError as exc:
            raise validation_error(str(exc)) from None

    # ------------------------------------------------------------------ Python API
    def _register_schema(
        self, name: str, required: list[str], associated_objects: list[str] | None = None, **fields: Any
    ) -> str:
        """Record a new custom object's schema (definitions come from ``_rebuild``) and a default
        association type to each of ``associated_objects``; returns its key."""
        key = schema_key(name)
        associated = []
        for other in STANDARD_OBJECT_TYPES if associated_objects is None else associated_objects:
            target = self._canonical(other) if other != name else key
            if target != key and target not in self._schemas and target not in STANDARD_OBJECT_TYPES:
                raise ValueError(f"associated object {other!r} is not an object type of the portal")
            associated.append(target)
        for target in dict.fromkeys(associated):
            self._associations.types.define(key, target, default=True)
        number = self._next_schema_number
        self._next_schema_number += 1
        self._schemas[schema_key(name)] = make_schema(
            name,
            number,
            labels=fields.get("labels"),
            required=required,
            primary_display=fields["primary_display"],
            searchable=fields.get("searchable") or [],
            secondary=fields.get("secondary") or [],
            description=fields.get("description"),
            created=now_iso(),
        )
        return schema_key(name)

    def add_schema(
        self,
        name: str,
        properties: list[Any] | None = None,
        required: list[str] | None = None,
        primary_display: str | None = None,
        unique: list[str] | None = None,
        labels: dict[str, str] | None = None,
        searchable: list[str] | None = None,
        secondary: list[str] | None = None,
        description: str | None = None,
        associated_objects: list[str] | None = None,
    ) -> dict[str, Any]:
        """Create a custom object; returns its schema as ``GET /crm/v3/schemas/{objectType}`` shows it."""
        name = check_name(name)
        key = schema_key(name)
        definitions = []
        for prop in properties or []:
            definition = {"name": prop, "type": "string"} if isinstance(prop, str) else dict(prop)
            if definition.get("name") in (unique or []):
                definition["hasUniqueValue"] = True
            definitions.append(complete_definition(key, definition))
        names = [d["name"] for d in definitions]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate property names in {names}")
        required = list(required or [])
        for field, wanted in (("required", required), ("unique", unique or []), ("searchable", searchable or []),
                              ("secondary", secondary or [])):
            unknown = [n for n in wanted if n not in names]
            if unknown:
                raise ValueError(f"{field} names properties the schema does not define: {unknown}")
        primary = primary_display or (required[0] if required else names[0] if names else "hs_object_id")
        if primary not in names and primary != "hs_object_id":
            raise ValueError(f"primary_display {primary!r} is not a property of the schema")
        with self._writing():
            if key in self._schemas:
                raise ValueError(f"a custom object named {name!r} already exists")
            self._register_schema(
                name, required, associated_objects, primary_display=primary, labels=labels,
                searchable=searchable if searchable is not None else [primary],
                secondary=secondary, description=description,
            )
            self._custom_definitions[key] = {d["name"]: copy.deepcopy(d) for d in definitions}
            self._rebuild()
            self._reindex(key)
            return self._schema_view(key)

    def add_pipeline(
        self,
        object_type: str,
        pipeline_id: str,
        label: str,
        stages: list[Any],
        display_order: int | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a deal or ticket pipeline; its ids become options of the pipeline properties."""
        with self._writing():
            t = self._require_type(object_type)
            existing = self._pipelines.get(t, {})
            if display_order is None:
                display_order = existing[pipeline_id]["displayOrder"] if pipeline_id in existing else len(existing)
            pipeline = make_pipeline(t, pipeline_id, label, stages, display_order)
            taken = {s["id"]: p["id"] for p in existing.values() if p["id"] != pipeline_id for s in p["stages"]}
            for stage in pipeline["stages"]:
                if stage["id"] in taken:
                    raise ValueError(f"stage id {stage['id']} is already a stage of pipeline {taken[stage['id']]}")
            self._custom_pipelines.setdefault(t, {})[pipeline_id] = copy.deepcopy(pipeline)
            self._pipelines.setdefault(t, {})[pipeline_id] = pipeline
            self._sync_pipeline_options(t)
            return copy.deepcopy(pipeline)

    def add_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        with self._writing():
            t = self._canonical(object_type)
            full = complete_definition(t, definition)
            if t not in self._definitions:
                name = name_of_key(t)
                if name is None:
                    raise ValueError(
                        f"unknown object type {object_type!r}: add a custom object with add_schema(), "
                        "or name it p_<name> to create one"
                    )
                self._register_schema(name, [], primary_display="hs_object_id")
                self._rebuild()
            self._definitions[t][full["name"]] = full
            if t not in self._custom_definitions:
                self._custom_definitions[t] = {}
            self._custom_definitions[t][full["name"]] = copy.deepcopy(full)
            self._reindex(t)
        return copy.deepcopy(full)

    def records(self, object_type: str) -> list[dict[str, Any]]:
        with self._reading():
            t = self._canonical(object_type)
            recs = [r for r in self._records.get(t, {}).values() if not r.get("archived")]
            return copy.deepcopy(sorted(recs, key=lambda r: int(r["id"])))

    def get_record(self, object_type: str, record_id: str, include_archived: bool = False) -> dict | None:
        with self._reading():
            rec = self._records.get(self._canonical(object_type), {}).get(str(record_id))
            if rec is None or (rec.get("archived") and not include_archived):
                return None
            return copy.deepcopy(rec)

    def find(self, object_type: str, prop: str, value: str) -> dict | None:
        with self._reading():
            t = self._canonical(object_type)
        wanted = self._norm(t, prop, value)
        for rec in self.records(object_type):
            current = rec["properties"].get(prop)
            if current is not None and self._norm(t, prop, current) == wanted:
                return rec
        return None

    def reset(self) -> None:
        with self._writing():
            self._records = {}
            self._next_id = 1
            self._associations.links.clear()
            self._reindex_all()
