"""Associations between records (CRM v4): the association types of each pair of object
types, the associations themselves, and the semantics of the v4 batch endpoints.

Every association type has an inverse in the other direction (contact→company 279 is
company→contact 280). A write of one direction writes the other, and an archive from either
side removes both, so each side always sees the association. Types are checked per
(from, to) pair: an id that is not a type of the pair fails the whole call.

Nothing here resolves object type names, locks or persists: the store does, and hands in
canonical type keys and a ``Portal`` that answers "does this record exist".
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from .batches import batch_inputs, batch_response, id_of
from .errors import standard_error, validation_error
from .properties import now_iso

MAX_WRITE_INPUTS = 2000  # batch/create and batch/associate/default
MAX_READ_INPUTS = 1000  # batch/read (enforced by HubSpot since February 2025)
MAX_ARCHIVE_INPUTS = 2000  # batch/archive and batch/labels/archive: the contract is silent; the emulator's choice

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
USER_DEFINED = "USER_DEFINED"
CATEGORIES = (HUBSPOT_DEFINED, USER_DEFINED, "INTEGRATOR_DEFINED")
FIRST_EMULATOR_TYPE_ID = 1000  # type ids the emulator hands out (custom objects' defaults, user labels)

# (from, to, type id, inverse type id, label): HubSpot's own types; each also defines its mirror.
# Contacts, companies and deals are the contract's table; the ticket ids are HubSpot's published
# table as remembered, not in the contract.
HUBSPOT_DEFINED_TYPES: tuple[tuple[str, str, int, int, str | None], ...] = (
    ("contacts", "companies", 279, 280, None),
    ("contacts", "companies", 1, 2, "Primary"),
    ("contacts", "deals", 4, 3, None),
    ("deals", "companies", 341, 342, None),
    ("deals", "companies", 5, 6, "Primary"),
    ("contacts", "tickets", 15, 16, None),
    ("tickets", "companies", 339, 340, None),
    ("tickets", "companies", 26, 25, "Primary"),
    ("deals", "tickets", 27, 28, None),
)


class Portal(Protocol):
    """What the association endpoints ask of the store."""

    def exists(self, object_type: str, object_id: str) -> bool: ...

    def object_type_id(self, object_type: str) -> str: ...

    def singular(self, object_type: str) -> str: ...


def _wire_id(value: str) -> int | str:
    """HubSpot sends ``toObjectId``/``fromObjectId`` as JSON numbers (ids inside ``{"id"}`` are strings)."""
    return int(value) if value.isdigit() else value


class AssociationTypes:
    """The association types of every pair of object types: HubSpot's and the added ones."""

    def __init__(self, added: list[dict[str, Any]] | None = None, next_type_id: int = FIRST_EMULATOR_TYPE_ID) -> None:
        self.added: list[dict[str, Any]] = []
        self.next_type_id = next_type_id
        self._by_pair: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        for from_type, to_type, type_id, inverse_id, label in HUBSPOT_DEFINED_TYPES:
            self._index(from_type, to_type, type_id, inverse_id, HUBSPOT_DEFINED, label, label, label is None)
        for definition in added or []:
            self._record(definition)

    def _index(self, from_type: str, to_type: str, type_id: int, inverse_id: int, category: str,
               label: str | None, inverse_label: str | None, default: bool) -> None:
        self._by_pair.setdefault((from_type, to_type), {})[type_id] = {
            "category": category, "typeId": type_id, "label": label, "inverseTypeId": inverse_id, "default": default,
        }
        self._by_pair.setdefault((to_type, from_type), {})[inverse_id] = {
            "category": category, "typeId": inverse_id, "label": inverse_label, "inverseTypeId": type_id,
            "default": default,
        }

    def _record(self, definition: dict[str, Any]) -> None:
        self.added.append(copy.deepcopy(definition))
        d = definition
        self._index(d["from"], d["to"], d["typeId"], d["inverseTypeId"], d["category"], d.get("label"),
                    d.get("inverseLabel"), bool(d.get("default")))

    def used_ids(self) -> set[int]:
        return {type_id for specs in self._by_pair.values() for type_id in specs}

    def _allocate(self) -> int:
        used = self.used_ids()
        while self.next_type_id in used:
            self.next_type_id += 1
        self.next_type_id += 1
        return self.next_type_id - 1

    def define(
        self,
        from_type: str,
        to_type: str,
        *,
        category: str = USER_DEFINED,
        label: str | None = None,
        inverse_label: str | None = None,
        type_id: int | None = None,
        default: bool = False,
    ) -> dict[str, Any]:
        """Add a type from ``from_type`` to ``to_type`` and its inverse; returns the forward spec.

        A label without an inverse label uses one type id both ways (HubSpot's unpaired label);
        a paired label, or a default type, gets a second id for the other direction.
        """
        used = self.used_ids()
        if type_id is None:
            type_id = self._allocate()
        elif type_id in used:
            raise ValueError(f"association type id {type_id} is already in use")
        if label is not None and inverse_label is None and not default:
            inverse_id, inverse_label = type_id, label
        else:
            inverse_id = self._allocate()
        self._record({"from": from_type, "to": to_type, "typeId": type_id, "inverseTypeId": inverse_id,
                      "category": category, "label": label, "inverseLabel": inverse_label, "default": default})
        return self.spec(from_type, to_type, type_id)

    def get(self, from_type: str, to_type: str, type_id: int) -> dict[str, Any] | None:
        return self._by_pair.get((from_type, to_type), {}).get(type_id)

    def default(self, from_type: str, to_type: str) -> dict[str, Any] | None:
        specs = sorted(self._by_pair.get((from_type, to_type), {}).values(), key=lambda s: s["typeId"])
        return next((s for s in specs if s["default"]), None)

    def spec(self, from_type: str, to_type: str, type_id: int) -> dict[str, Any]:
        """``{category, typeId, label}`` as the labels and batch/read endpoints show a type."""
        found = self._by_pair[(from_type, to_type)][type_id]
        return {"category": found["category"], "typeId": type_id, "label": found["label"]}

    def labels(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        return [self.spec(from_type, to_type, type_id) for type_id in sorted(self._by_pair.get((from_type, to_type), {}))]

    def defaults_from(self, from_type: str) -> list[tuple[str, dict[str, Any]]]:
        """``(to type, default spec)`` of every pair that starts at ``from_type``."""
        found = []
        for (source, target), specs in self._by_pair.items():
            if source == from_type:
                found += [(target, s) for s in specs.values() if s["default"]]
        return sorted(found, key=lambda pair: pair[1]["typeId"])

    def find_target(self, from_type: str, type_id: int, category: str) -> str | None:
        """The object type that ``type_id`` associates ``from_type`` with (for associations on create)."""
        for (source, target), specs in sorted(self._by_pair.items()):
            spec = specs.get(type_id)
            if source == from_type and spec is not None and spec["category"] == category:
                return target
        return None


class Links:
    """The associations: ``{(from type, to type): {from id: {to id: {type ids}}}}``, both directions."""

    def __init__(self, saved: list[list[Any]] | None = None) -> None:
        self._links: dict[tuple[str, str], dict[str, dict[str, set[int]]]] = {}
        for from_type, from_id, to_type, to_id, type_ids in saved or []:
            self._side(from_type, from_id, to_type)[to_id] = set(type_ids)

    def _side(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        return self._links.setdefault((from_type, to_type), {}).setdefault(from_id, {})

    def add(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int, inverse_id: int) -> None:
        self._side(from_type, from_id, to_type).setdefault(to_id, set()).add(type_id)
        self._side(to_type, to_id, from_type).setdefault(from_id, set()).add(inverse_id)

    def remove(self, from_type: str, from_id: str, to_type: str, to_id: str,
               types: list[tuple[int, int]] | None = None) -> None:
        """Remove ``(type id, inverse id)`` pairs, or every type when ``types`` is None, both ways."""
        for a_type, a_id, b_type, b_id, index in ((from_type, from_id, to_type, to_id, 0),
                                                  (to_type, to_id, from_type, from_id, 1)):
            sides = self._links.get((a_type, b_type), {})
            current = sides.get(a_id, {}).get(b_id)
            if current is None:
                continue
            if types is None:
                current.clear()
            else:
                current.difference_update(pair[index] for pair in types)
            if not current:
                del sides[a_id][b_id]
                if not sides[a_id]:
                    del sides[a_id]

    def drop_record(self, object_type: str, object_id: str) -> None:
        """Forget every association of a record (it was archived)."""
        for (from_type, to_type), sides in list(self._links.items()):
            if from_type == object_type and object_id in sides:
                for to_id in list(sides[object_id]):
                    self.remove(from_type, object_id, to_type, to_id)

    def targets(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        return self._links.get((from_type, to_type), {}).get(from_id, {})

    def triples(self, from_type: str, to_type: str) -> list[tuple[str, str, int]]:
        """``(from id, to id, type id)`` of one direction, sorted."""
        found = [(a, b, t) for a, targets in self._links.get((from_type, to_type), {}).items()
                 for b, type_ids in targets.items() for t in type_ids]
        return sorted(found, key=lambda x: (_sort_key(x[0]), _sort_key(x[1]), x[2]))

    def saved(self) -> list[list[Any]]:
        return [[f, a, t, b, sorted(type_ids)] for (f, t), sides in sorted(self._links.items())
                for a, targets in sides.items() for b, type_ids in targets.items()]

    def clear(self) -> None:
        self._links.clear()


def _sort_key(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def _object_ref(item: dict[str, Any], field: str) -> str:
    ref = item.get(field)
    if not isinstance(ref, dict):
        raise validation_error(f"Invalid input JSON: every input needs '{field}': {{\"id\": ...}}")
    return id_of(ref)


def type_specs(item: dict[str, Any]) -> list[tuple[str, int]]:
    types = item.get("types")
    if not isinstance(types, list) or not types:
        raise validation_error("Invalid input JSON: every input needs a non-empty 'types' array")
    specs = []
    for spec in types:
        category = spec.get("associationCategory") if isinstance(spec, dict) else None
        type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
        if isinstance(type_id, str) and type_id.isdigit():
            type_id = int(type_id)
        if category not in CATEGORIES or not isinstance(type_id, int) or isinstance(type_id, bool):
            raise validation_error(
                "Invalid input JSON: each type needs an associationCategory "
                f"({', '.join(CATEGORIES)}) and an integer associationTypeId, not {spec!r}"
            )
        specs.append((category, type_id))
    return specs


class Associations:
    """The association state of a portal and the v4 endpoints' semantics."""

    def __init__(self, types: AssociationTypes | None = None, links: Links | None = None) -> None:
        self.types = types or AssociationTypes()
        self.links = links or Links()

    # ------------------------------------------------------------------ checks shared by the endpoints
    def _checked_types(self, from_type: str, to_type: str, specs: list[tuple[str, int]]) -> list[dict[str, Any]]:
        found = []
        for category, type_id in specs:
            spec = self.types.get(from_type, to_type, type_id)
            if spec is None or spec["category"] != category:
                raise validation_error(
                    f"associationTypeId {type_id} ({category}) is not a valid association type from "
                    f"{from_type} to {to_type}",
                    context={"associationTypeId": [str(type_id)], "associationCategory": [category]},
                )
            found.append(spec)
        return found

    def missing_error(self, portal: Portal, from_type: str, to_type: str, field: str, object_type: str,
                      object_id: str) -> dict[str, Any]:
        return standard_error(
            "OBJECT_NOT_FOUND",
            f"No {portal.singular(object_type)} with id {object_id} exists.",
            {field: [object_id], "fromObjectType": [portal.singular(from_type)],
             "toObjectType": [portal.singular(to_type)]},
        )

    def _pair_error(self, portal: Portal, from_type: str, to_type: str, from_id: str,
                    to_id: str) -> dict[str, Any] | None:
        if not portal.exists(from_type, from_id):
            return self.missing_error(portal, from_type, to_type, "fromObjectId", from_type, from_id)
        if not portal.exists(to_type, to_id):
            return self.missing_error(portal, from_type, to_type, "toObjectId", to_type, to_id)
        return None

    def add(self, from_type: str, from_id: str, to_type: str, to_id: str, spec: dict[str, Any]) -> None:
        """Associate with ``spec``; a labelled type brings the pair's default type along."""
        self.links.add(from_type, from_id, to_type, to_id, spec["typeId"], spec["inverseTypeId"])
        default = self.types.default(from_type, to_type)
        if default is not None and not spec["default"]:
            self.links.add(from_type, from_id, to_type, to_id, default["typeId"], default["inverseTypeId"])

    # ------------------------------------------------------------------ endpoints
    def batch_create(self, portal: Portal, from_type: str, to_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = batch_inputs(body, MAX_WRITE_INPUTS)
        parsed = [(_object_ref(item, "from"), _object_ref(item, "to"), type_specs(item)) for item in inputs]
        checked = [self._checked_types(from_type, to_type, specs) for _, _, specs in parsed]
        results, errors = [], []
        for (from_id, to_id, _), specs in zip(parsed, checked, strict=True):
            error = self._pair_error(portal, from_type, to_type, from_id, to_id)
            if error is not None:
                errors.append(error)
                continue
            for spec in specs:
                self.add(from_type, from_id, to_type, to_id, spec)
            results.append({
                "fromObjectTypeId": portal.object_type_id(from_type),
                "fromObjectId": _wire_id(from_id),
                "toObjectTypeId": portal.object_type_id(to_type),
                "toObjectId": _wire_id(to_id),
                "labels": [s["label"] for s in specs if s["label"] is not None],
            })
        return (207 if errors else 201), batch_response(results, started, errors)

    def associate_default(self, portal: Portal, from_type: str, to_type: str,
                          body: Any) -> tuple[int, dict[str, Any]]:
        """Always 200 (the SDK reads no other status here); failed inputs are in ``errors``."""
        started = now_iso()
        inputs = batch_inputs(body, MAX_WRITE_INPUTS)
        parsed = [(_object_ref(item, "from"), _object_ref(item, "to")) for item in inputs]
        default = self.types.default(from_type, to_type)
        if default is None:
            raise validation_error(f"There is no default association type from {from_type} to {to_type}")
        inverse = self.types.get(to_type, from_type, default["inverseTypeId"])
        assert inverse is not None
        results, errors = [], []
        for from_id, to_id in parsed:
            error = self._pair_error(portal, from_type, to_type, from_id, to_id)
            if error is not None:
                errors.append(error)
                continue
            self.add(from_type, from_id, to_type, to_id, default)
            for a, b, spec in ((from_id, to_id, default), (to_id, from_id, inverse)):
                results.append({
                    "from": {"id": a},
                    "to": {"id": b},
                    "associationSpec": {"associationCategory": spec["category"], "associationTypeId": spec["typeId"]},
                })
        body_out = batch_response(results, started, errors)
        body_out.setdefault("numErrors", 0)
        body_out.setdefault("errors", [])
        return 200, body_out

    def batch_read(self, portal: Portal, from_type: str, to_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = batch_inputs(body, MAX_READ_INPUTS)
        ids = list(dict.fromkeys(id_of(item) for item in inputs))
        results, errors = [], []
        for from_id in ids:
            targets = self.links.targets(from_type, from_id, to_type) if portal.exists(from_type, from_id) else {}
            if not targets:
                errors.append(standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {portal.singular(to_type)} is associated with {portal.singular(from_type)} {from_id}.",
                    {"fromObjectId": [from_id], "fromObjectType": [portal.singular(from_type)],
                     "toObjectType": [portal.singular(to_type)]},
                    sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                ))
                continue
            results.append({
                "from": {"id": from_id},
                "to": [
                    {"toObjectId": _wire_id(to_id),
                     "associationTypes": [self.types.spec(from_type, to_type, t) for t in sorted(targets[to_id])]}
                    for to_id in sorted(targets, key=_sort_key)
                ],
            })
        return (207 if errors else 200), batch_response(results, started, errors)

    def batch_archive(self, from_type: str, to_type: str, body: Any) -> tuple[int, None]:
        inputs = batch_inputs(body, MAX_ARCHIVE_INPUTS)
        pairs = []
        for item in inputs:
            from_id = _object_ref(item, "from")
            targets = item.get("to")
            targets = targets if isinstance(targets, list) else [targets]
            pairs += [(from_id, id_of(target)) for target in targets]
        for from_id, to_id in pairs:
            self.links.remove(from_type, from_id, to_type, to_id)
        return 204, None

    def archive_labels(self, from_type: str, to_type: str, body: Any) -> tuple[int, None]:
        inputs = batch_inputs(body, MAX_ARCHIVE_INPUTS)
        parsed = [(_object_ref(item, "from"), _object_ref(item, "to"), type_specs(item)) for item in inputs]
        checked = [self._checked_types(from_type, to_type, specs) for _, _, specs in parsed]
        for (from_id, to_id, _), specs in zip(parsed, checked, strict=True):
            self.links.remove(from_type, from_id, to_type, to_id, [(s["typeId"], s["inverseTypeId"]) for s in specs])
        return 204, None

    def list_labels(self, from_type: str, to_type: str) -> dict[str, Any]:
        return {"results": self.types.labels(from_type, to_type)}

    def create_label(self, from_type: str, to_type: str, body: Any) -> dict[str, Any]:
        """``POST .../labels`` with ``{"label", "name", "inverseLabel"?}``: a USER_DEFINED type."""
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON: the request body must be a JSON object")
        label, name = body.get("label"), body.get("name")
        missing = [f for f, v in (("label", label), ("name", name)) if not isinstance(v, str) or not v]
        if missing:
            raise validation_error(f"Invalid input JSON: Some required fields were not set: [{', '.join(missing)}]")
        inverse = body.get("inverseLabel") or None
        spec = self.types.define(from_type, to_type, label=label, inverse_label=inverse)
        created = [spec]
        if inverse is not None:
            created.append(self.types.spec(to_type, from_type, self.types.get(from_type, to_type,
                                                                              spec["typeId"])["inverseTypeId"]))
        return {"results": created}
