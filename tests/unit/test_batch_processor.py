"""shared/batch_processor.assess: what each key of a batch needs, decided without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import ObjectConfig, parse_config
from shared.keys import encode_version, key_to_json
from shared.mapping.data_validator import PortalSchema, PropertyDef
from shared.mapping.field_mapper import map_row
from shared.source.delta import DeltaRow
from shared.state import RecordState
from shared.sync.assessment import BatchCounts, assess, normalise_id_value

pytestmark = pytest.mark.unit

SCHEMA = PortalSchema("contacts", [
    PropertyDef("email", "string", "text"),
    PropertyDef("firstname", "string", "text"),
    PropertyDef("lifecyclestage", "enumeration", "radio", frozenset({"lead", "customer"})),
    PropertyDef("signup_date", "date", "date"),
])


def make_obj(id_property: str = "email") -> ObjectConfig:
    return parse_config({"objects": [{
        "name": "contacts", "object_type": "contacts", "table": "dbo.Customers", "key": ["CustomerId"],
        "watermark": {"column": "RowVer", "kind": "integer"}, "id_property": id_property,
        "fields": {
            "email": {"column": "Email", "transform": ["trim", "email"]},
            "firstname": {"column": "FirstName"},
            "lifecyclestage": {"column": "Stage"},
            "signup_date": {"column": "SignedUp"},
        },
    }]}).objects[0]


def v(n: int) -> str:
    return encode_version("integer", n)


def delta(cid: int, version: int, **values: Any) -> DeltaRow:
    row = {"CustomerId": cid, "RowVer": version, "Email": f"c{cid}@example.com", "FirstName": f"N{cid}",
           "Stage": "lead", "SignedUp": "2024-02-29", **values}
    return DeltaRow((cid,), v(version), row)


def kj(cid: int) -> str:
    return key_to_json((cid,))


def run(rows: list[DeltaRow], known: dict[str, RecordState] | None = None,
        keys: list[str] | None = None, obj: ObjectConfig | None = None) -> tuple[list[RecordState], dict[str, int], list]:
    by_key = {key_to_json(r.key): r for r in rows}
    return assess(obj or make_obj(), SCHEMA, keys or list(by_key), by_key, known or {})


def test_missing_row() -> None:
    settled, tally, candidates = run([], keys=[kj(1)])

    assert tally == {"rejected": 0, "unchanged": 0, "missing": 1}
    assert candidates == []
    (state,) = settled
    assert state.source_key == kj(1)
    assert state.last_outcome == "missing"
    assert state.hubspot_id is None
    assert "no longer in the source" in (state.reason or "")


def test_row_rejected_by_a_transform_keeps_the_reason() -> None:
    settled, tally, candidates = run([delta(1, 5, Email="not-an-email")])

    assert tally["rejected"] == 1
    assert candidates == []
    (state,) = settled
    assert state.last_outcome == "rejected"
    assert state.reason is not None and state.reason.startswith("email (column Email): invalid email")
    assert state.hubspot_id is None and state.payload_hash is None


def test_row_rejected_by_the_portal_schema_keeps_the_reason() -> None:
    settled, tally, _ = run([delta(1, 5, Stage="prospect")])

    assert tally["rejected"] == 1
    (state,) = settled
    assert state.last_outcome == "rejected"
    assert (state.reason or "").startswith("lifecyclestage: 'prospect' is not an option (INVALID_OPTION)")


def test_value_that_does_not_fit_the_property_type_is_rejected() -> None:
    settled, tally, _ = run([delta(1, 5, SignedUp="2024-02-30")])

    assert tally["rejected"] == 1
    (state,) = settled
    assert state.reason == "signup_date (column SignedUp): '2024-02-30' is not a YYYY-MM-DD date"


def test_new_row_is_a_candidate_without_a_hubspot_id() -> None:
    settled, tally, candidates = run([delta(1, 5, Email=" C1@Example.com ")])

    assert settled == []
    assert tally == {"rejected": 0, "unchanged": 0, "missing": 0}
    (c,) = candidates
    assert c.source_key == kj(1)
    assert c.hubspot_id is None
    assert c.mapped.version == v(5)
    assert c.mapped.properties["email"].lower() == "c1@example.com"
    assert c.norm_id == "c1@example.com"


def _known(row: DeltaRow, hubspot_id: str | None = "901", version: int | None = None,
           payload: str | None = None) -> RecordState:
    mapped = map_row(row.row or {}, make_obj(), row.version, SCHEMA.types())
    return RecordState(
        key_to_json(row.key), hubspot_id, mapped.id_value, payload or mapped.payload_hash,
        v(version) if version is not None else row.version, "updated",
    )


def test_same_hash_as_known_is_unchanged() -> None:
    old = delta(1, 5)
    new = delta(1, 6)  # a new version, but the mapped payload is the same
    settled, tally, candidates = run([new], {kj(1): _known(old)})

    assert candidates == []
    assert tally["unchanged"] == 1
    (state,) = settled
    assert state.last_outcome == "unchanged"
    assert state.hubspot_id == "901"
    assert state.source_version == v(6)  # the version moves on
    assert state.payload_hash == _known(old).payload_hash


def test_changed_row_is_a_candidate_with_the_known_hubspot_id() -> None:
    old = delta(1, 5)
    new = delta(1, 6, FirstName="Renamed")
    settled, tally, candidates = run([new], {kj(1): _known(old)})

    assert settled == []
    assert tally["unchanged"] == 0
    (c,) = candidates
    assert c.hubspot_id == "901"
    assert c.mapped.properties["firstname"] == "Renamed"
    assert c.mapped.payload_hash != _known(old).payload_hash


def test_same_hash_without_a_hubspot_id_is_still_sent() -> None:
    row = delta(1, 5)
    _, tally, candidates = run([row], {kj(1): _known(row, hubspot_id=None)})
    assert tally["unchanged"] == 0
    assert len(candidates) == 1
    assert candidates[0].hubspot_id is None


def test_known_newer_version_is_skipped_as_unchanged() -> None:
    row = delta(1, 5, FirstName="Older")
    settled, tally, candidates = run([row], {kj(1): _known(delta(1, 9), version=9)})

    assert candidates == []
    # recorded as unchanged with the newer version it already holds: never goes back to version 5
    [state] = settled
    assert state.last_outcome == "unchanged" and state.source_version == _known(delta(1, 9), version=9).source_version
    assert tally == {"rejected": 0, "unchanged": 1, "missing": 0}


def test_newer_version_check_compares_canonical_versions() -> None:
    # "...09" < "...10" as text because integer versions are zero-padded
    row = delta(1, 10, FirstName="Newer")
    _, tally, candidates = run([row], {kj(1): _known(delta(1, 9), version=9)})
    assert tally["unchanged"] == 0
    assert len(candidates) == 1


def test_mixed_batch() -> None:
    rows = [delta(1, 5), delta(2, 5, Email="bad"), delta(3, 5), delta(4, 5, FirstName="Changed")]
    known = {kj(3): _known(delta(3, 4)), kj(4): _known(delta(4, 4), hubspot_id="904")}
    keys = [kj(1), kj(2), kj(3), kj(4), kj(5)]
    settled, tally, candidates = run(rows, known, keys=keys)

    assert tally == {"rejected": 1, "unchanged": 1, "missing": 1}
    assert {s.source_key: s.last_outcome for s in settled} == {
        kj(2): "rejected", kj(3): "unchanged", kj(5): "missing",
    }
    assert [(c.source_key, c.hubspot_id) for c in candidates] == [(kj(1), None), (kj(4), "904")]


def test_normalise_id_value() -> None:
    assert normalise_id_value(make_obj("email"), "Jane@Example.com") == "jane@example.com"
    assert normalise_id_value(make_obj("firstname"), "Jane") == "Jane"


def test_batch_counts_add_and_as_dict() -> None:
    a = BatchCounts(created=1, rejected=2)
    a.add(BatchCounts(created=3, api_calls=4))
    assert a.as_dict() == {"created": 4, "updated": 0, "adopted": 0, "unchanged": 0, "rejected": 2, "failed": 0,
                           "missing": 0, "api_calls": 4, "linked": 0, "unlinked": 0, "link_pending": 0,
                           "link_failed": 0}
