"""Pure core throughput: map_row + PortalSchema.validate + payload_hash per row.

Rows come from ``tests.support.customer`` (3 % are invalid on purpose, like the tests' data);
the mapping is the tests' configuration; the portal schema is the emulator's default contact
schema, fetched once through ``HubSpotWriter``.

    .venv/bin/python -m bench.mapping [--rows 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from bench._common import TOKEN, emulator_inproc, heading, md_table
from shared.config import ObjectConfig, parse_config
from shared.errors import RecordRejected
from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.keys import encode_version
from shared.mapping.data_validator import PortalSchema
from shared.mapping.field_mapper import map_row, payload_hash
from shared.mapping.transforms import apply_transforms, to_hubspot_string
from tests.support import config_dict, customer


def contact_schema() -> PortalSchema:
    with emulator_inproc() as url:
        return HubSpotWriter(SecretStr(TOKEN), url).fetch_schema("contacts")


def make_rows(n: int) -> list[tuple[dict[str, Any], str]]:
    rnd = random.Random(1)
    return [(customer(i, rnd), encode_version("integer", i)) for i in range(1, n + 1)]


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def pipeline(rows: list[tuple[dict[str, Any], str]], obj: ObjectConfig, schema: PortalSchema) -> dict[str, int]:
    """What the worker's ``assess`` does per row, minus the state lookup."""
    types = schema.types()
    tally = {"valid": 0, "rejected_by_mapper": 0, "rejected_by_validator": 0}
    for row, version in rows:
        try:
            mapped = map_row(row, obj, version, types)  # includes payload_hash
        except RecordRejected:
            tally["rejected_by_mapper"] += 1
            continue
        if schema.validate(mapped.properties):
            tally["rejected_by_validator"] += 1
        else:
            tally["valid"] += 1
    return tally


def run(rows_n: int, repeat: int) -> None:
    obj = parse_config(config_dict()).objects[0]
    schema = contact_schema()
    types = schema.types()
    rows = make_rows(rows_n)

    total, tally = best_of(repeat, lambda: pipeline(rows, obj, schema))

    def mapped_only() -> list[Any]:
        out = []
        for row, version in rows:
            try:
                mapped = map_row(row, obj, version, types)
            except RecordRejected:
                continue
            out.append(mapped)
        return out

    t_map, mapped = best_of(repeat, mapped_only)
    props = [m.properties for m in mapped]
    t_validate, _ = best_of(repeat, lambda: [schema.validate(p) for p in props])
    t_hash, _ = best_of(repeat, lambda: [payload_hash(p) for p in props])

    print(heading("Mapping: map_row + validate + payload_hash (one core, pure Python)",
                  {"rows": rows_n, "repeat (best of)": repeat, "fields": len(obj.fields)}))
    n = len(rows)
    print(md_table(
        ["stage", "rows", "seconds", "rows/s", "µs/row"],
        [
            ["map_row + validate (+ payload_hash inside map_row)", n, total, n / total, total / n * 1e6],
            ["map_row alone (transforms, wire strings, hash)", n, t_map, n / t_map, t_map / n * 1e6],
            ["PortalSchema.validate alone", len(props), t_validate, len(props) / t_validate,
             t_validate / len(props) * 1e6],
            ["payload_hash alone", len(props), t_hash, len(props) / t_hash, t_hash / len(props) * 1e6],
        ],
    ))
    print()
    print(f"Outcomes: {tally['valid']:,} valid, {tally['rejected_by_mapper']:,} rejected by the mapper, "
          f"{tally['rejected_by_validator']:,} rejected by the validator.\n")

    # where the time of map_row goes: each field's transforms and wire conversion
    sample = rows[: min(n, 20_000)]
    per_field = []
    for prop, spec in obj.fields.items():
        def one_field(prop: str = prop, spec: Any = spec) -> None:
            for row, _version in sample:
                try:
                    value = apply_transforms(row.get(spec.column), spec.transforms, obj.phone_region)
                    if value not in (None, ""):
                        to_hubspot_string(value, types.get(prop))
                except RecordRejected:
                    pass
        seconds, _ = best_of(repeat, one_field)
        names = "+".join(t.name for t in spec.transforms) or "(none)"
        per_field.append([prop, names, seconds / len(sample) * 1e6])
    per_field.sort(key=lambda r: -r[2])
    print(f"Cost per field (transforms + wire string, µs/row, {len(sample):,}-row sample):\n")
    print(md_table(["property", "transforms", "µs/row"], per_field))
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mapping", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    run(args.rows, args.repeat)


if __name__ == "__main__":
    main()
