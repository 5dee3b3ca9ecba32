"""Associations in the configuration: each names an object of the same file, with as many foreign
key columns as its key has, no cycle, and sync order puts targets first (shared/config.py)."""

from __future__ import annotations

import pytest

from shared.config import parse_config
from shared.errors import ConfigurationError


def _obj(name: str, key: list[str], associations: list[dict] | None = None) -> dict:
    return {"name": name, "object_type": "contacts" if name == "people" else "companies", "table": name, "key": key,
            "watermark": {"column": "v", "kind": "integer"}, "id_property": "x", "fields": {"x": {"column": "x"}},
            "associations": associations or []}


def _problems(objects: list[dict]) -> str:
    with pytest.raises(ConfigurationError) as err:
        parse_config({"version": 1, "objects": objects})
    return str(err.value)


def test_an_association_to_an_unknown_object_names_the_path_and_the_objects() -> None:
    text = _problems([_obj("people", ["id"], [{"to": "companys", "column": "company_id"}]), _obj("companies", ["id"])])
    assert "objects[0].associations[0].to: no object named 'companys'" in text
    assert "companies, people" in text


def test_the_foreign_key_must_have_as_many_columns_as_the_target_key() -> None:
    text = _problems([_obj("people", ["id"], [{"to": "companies", "column": "company_id"}]),
                      _obj("companies", ["region", "id"])])
    assert "objects[0].associations[0].column: 1 column(s) for the 2 key column(s) of 'companies' (region, id)" in text


def test_a_cycle_between_objects_is_refused_with_its_path() -> None:
    text = _problems([_obj("people", ["id"], [{"to": "companies", "column": "company_id"}]),
                      _obj("companies", ["id"], [{"to": "people", "column": "owner_id"}])])
    assert "cycle (people -> companies -> people)" in text


def test_two_links_to_one_target_need_their_own_labels() -> None:
    text = _problems([_obj("people", ["id"], [{"to": "companies", "column": "a"}, {"to": "companies", "column": "b"}]),
                      _obj("companies", ["id"])])
    assert "objects[0].associations[1]: a second association to 'companies' with the same label" in text
    parse_config({"version": 1, "objects": [
        _obj("people", ["id"], [{"to": "companies", "column": "a"}, {"to": "companies", "column": "b", "label": "Billing"}]),
        _obj("companies", ["id"])]})


def test_targets_are_synced_first_and_foreign_key_columns_are_read() -> None:
    config = parse_config({"version": 1, "objects": [
        _obj("people", ["id"], [{"to": "companies", "column": "company_id"}]), _obj("companies", ["id"])]})
    assert [o.name for o in config.ordered()] == ["companies", "people"]
    assert "company_id" in config.object("people").columns
    names = {a.name for a in config.object("people").associations}
    assert len(next(iter(names))) == 16  # fits the state table's key on SQL Server
