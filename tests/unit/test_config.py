"""shared/config.py: loading and validating the YAML sync configuration."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from shared.config import ObjectConfig, SyncConfig, load_config, parse_config
from shared.errors import ConfigurationError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

VALID_YAML = """\
version: 1
source:
  url: postgresql+psycopg://hubsync@db.example.com/crm
  page_size: 500
hubspot:
  requests_per_10s: 40
queue:
  backend: memory
objects:
  - name: contacts
    object_type: contacts
    table: dbo.Customers
    key: [CustomerId]
    watermark: {column: RowVer, kind: rowversion}
    id_property: email
    null_values: omit
    fields:
      email:     {column: Email, transform: [trim, lower, email], required: true}
      firstname: {column: FirstName, transform: trim}
      lifecyclestage: {column: Status, transform: {map: {A: customer, P: lead}}}
      source_system: {constant: erp}
"""


def _object(**overrides: object) -> dict:
    data = {
        "name": "contacts",
        "object_type": "contacts",
        "table": "customers",
        "key": ["customer_id"],
        "watermark": {"column": "row_version", "kind": "integer"},
        "id_property": "email",
        "fields": {"email": {"column": "email", "transform": ["trim", "email"]}},
    }
    data.update(overrides)
    return data


def _problems(data: dict) -> list[str]:
    with pytest.raises(ConfigurationError) as info:
        parse_config(data)
    return info.value.problems


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hubsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- a valid file --


def test_valid_yaml_loads_into_sync_config(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID_YAML))

    assert isinstance(config, SyncConfig)
    assert config.source.page_size == 500
    assert config.hubspot.requests_per_10s == 40
    obj = config.object("contacts")
    assert isinstance(obj, ObjectConfig)
    assert obj.schema_name == "dbo"
    assert obj.table_name == "Customers"
    assert obj.watermark.kind == "rowversion"
    assert obj.null_values == "omit"
    assert obj.columns == ["CustomerId", "RowVer", "Email", "FirstName", "Status"]
    assert [t.name for t in obj.fields["email"].transforms] == ["trim", "lower", "email"]
    assert obj.fields["lifecyclestage"].transforms[0].arg == {"values": {"A": "customer", "P": "lead"}}
    assert obj.fields["source_system"].constant == "erp"
    assert obj.fields["source_system"].transforms == ()


def test_defaults_apply_when_sections_are_omitted() -> None:
    config = parse_config({"objects": [_object()]})

    assert config.version == 1
    assert config.source.state_schema == "hubsync"
    assert config.source.table_prefix is None  # resolved by StateStore: 'hubsync_' only without a schema
    assert config.hubspot.mode == "live"
    assert config.queue.backend == "memory"
    assert config.objects[0].batch_size == 100
    assert config.objects[0].null_values == "clear"
    assert config.objects[0].enabled is True


def test_object_lookup_by_unknown_name_is_a_configuration_error() -> None:
    config = parse_config({"objects": [_object()]})
    with pytest.raises(ConfigurationError, match="no object named 'deals'"):
        config.object("deals")


@pytest.mark.parametrize("name", ["demo.yaml", "sqlserver.yaml", "objects.yaml"])
def test_shipped_examples_load(name: str) -> None:
    config = load_config(ROOT / "examples" / name)

    assert config.objects, name
    for obj in config.objects:
        assert obj.id_property in obj.fields


def test_sqlserver_example_uses_rowversion_and_azure_queue() -> None:
    config = load_config(ROOT / "examples" / "sqlserver.yaml")

    obj = config.object("contacts")
    assert obj.table == "dbo.Customers"
    assert obj.watermark.kind == "rowversion"
    assert config.queue.backend == "azure"
    assert config.source.url is None  # the URL (and its secret) lives in HUBSYNC_SOURCE_URL


# -- several problems reported at once --


def test_several_problems_are_all_reported_with_their_paths() -> None:
    data = {
        "source": {"url": "mssql+pyodbc://sa:hunter2@sql.example.com/crm", "colour": "blue"},
        "objects": [
            _object(
                table="dbo.x;drop",
                fields={"email": {"column": "email", "transform": "lowr"}},
                extra_setting=True,
            )
        ],
    }
    problems = _problems(data)

    assert len(problems) == 5, problems
    transform = [p for p in problems if p.startswith("objects[0].fields.email.transform:")]
    assert len(transform) == 1
    assert transform[0].startswith("objects[0].fields.email.transform: unknown transform 'lowr'")
    assert "source.colour: unknown setting" in problems
    assert "objects[0].extra_setting: unknown setting" in problems
    assert any(p.startswith("source.url: must not contain a password") for p in problems)
    assert any(p.startswith("objects[0].table:") and "'dbo.x;drop'" in p for p in problems)


def test_error_message_counts_and_lists_problems() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config({"objects": [_object(bogus=1, table="a.b.c")]}, origin="my.yaml")

    message = str(info.value)
    assert message.startswith("my.yaml has 2 problem(s):")
    for problem in info.value.problems:
        assert problem in message


@pytest.mark.parametrize(
    "path, setting",
    [
        ((), "surprise"),
        (("hubspot",), "token"),
        (("queue",), "name"),
    ],
)
def test_unknown_keys_are_unknown_settings(path: tuple[str, ...], setting: str) -> None:
    data: dict = {"objects": [_object()]}
    target = data
    for part in path:
        target = target.setdefault(part, {})
    target[setting] = "x"

    expected = ".".join([*path, setting]) + ": unknown setting"
    assert _problems(data) == [expected]


def test_unknown_key_inside_a_field_names_the_field() -> None:
    fields = {"email": {"column": "email", "transfrom": "lower"}}
    assert _problems({"objects": [_object(fields=fields)]}) == ["objects[0].fields.email.transfrom: unknown setting"]


@pytest.mark.parametrize(
    "url",
    [
        "mssql+pyodbc://sa:hunter2@sql.example.com/crm?driver=ODBC+Driver+18+for+SQL+Server",
        "postgresql+psycopg://hubsync:s3cret@db.example.com:5432/crm",
        "postgresql://:onlypassword@db.example.com/crm",
    ],
)
def test_source_url_with_a_password_is_refused(url: str) -> None:
    problems = _problems({"source": {"url": url}, "objects": [_object()]})

    assert len(problems) == 1
    assert problems[0].startswith("source.url: must not contain a password")
    assert "HUBSYNC_SOURCE_URL" in problems[0]


SNEAKY_PASSWORD_URLS = [
    "mssql+pyodbc://sa:Pa/ss0rd@sql.example.com/crm",  # a '/' in the password
    "MSSQL+pyodbc://sa:hunter2@sql.example.com/crm",  # upper-case scheme
    "oracle+cx_oracle://scott:tiger@db.example.com/crm",  # '_' in the driver name
]


@pytest.mark.parametrize("url", SNEAKY_PASSWORD_URLS)
def test_sqlalchemy_reads_a_password_from_these_urls(url: str) -> None:
    from sqlalchemy.engine import make_url

    assert make_url(url).password is not None


@pytest.mark.parametrize("url", SNEAKY_PASSWORD_URLS)
def test_source_url_password_is_refused_whatever_characters_it_holds(url: str) -> None:
    problems = _problems({"source": {"url": url}, "objects": [_object()]})
    assert any(p.startswith("source.url: must not contain a password") for p in problems)


@pytest.mark.parametrize(
    "url",
    ["mssql+pyodbc://@sql.example.com/crm?driver=ODBC+Driver+18+for+SQL+Server", "sqlite:///.hubsync/demo.db",
     "postgresql+psycopg://hubsync@db.example.com/crm"],
)
def test_source_url_without_a_password_is_accepted(url: str) -> None:
    assert parse_config({"source": {"url": url}, "objects": [_object()]}).source.url == url


def test_id_property_must_be_a_mapped_field() -> None:
    problems = _problems({"objects": [_object(id_property="customer_number")]})

    assert problems == ["objects[0]: id_property 'customer_number' must be one of the mapped fields"]


def test_duplicate_object_names_are_refused() -> None:
    problems = _problems({"objects": [_object(), _object(object_type="companies"), _object(name="deals")]})

    assert problems == ["(top level): object names must be unique; repeated: contacts"]


@pytest.mark.parametrize("table", ["dbo.x;drop", "a.b.c", "dbo.", "1abc", "x--y", "[dbo].[x]"])
def test_bad_table_names_are_refused(table: str) -> None:
    problems = _problems({"objects": [_object(table=table)]})

    assert problems == [f"objects[0].table: {table!r} is not a table name ('table' or 'schema.table')"]


@pytest.mark.parametrize("table", ["Customers", "dbo.Customers", "dbo.Customer Orders", "sales.order_lines"])
def test_plain_table_names_are_accepted(table: str) -> None:
    assert parse_config({"objects": [_object(table=table)]}).objects[0].table == table


def test_bad_key_and_column_names_are_refused() -> None:
    fields = {"email": {"column": "email; drop table x"}}
    problems = _problems({"objects": [_object(key=["id", "x)"], fields=fields)]})

    assert "objects[0].key: column 'x)' is not a plain column name" in problems
    assert "objects[0].fields.email: column 'email; drop table x' is not a plain column name" in problems


@pytest.mark.parametrize(
    "spec",
    [{"column": "email", "constant": "x"}, {"transform": "trim"}],
)
def test_field_needs_exactly_one_of_column_or_constant(spec: dict) -> None:
    problems = _problems({"objects": [_object(fields={"email": spec})]})

    assert problems == ["objects[0].fields.email: give exactly one of 'column' or 'constant'"]


@pytest.mark.parametrize("name", ["Contacts", "1contacts", "con-tacts", "a" * 64])
def test_object_names_are_lowercase_identifiers(name: str) -> None:
    problems = _problems({"objects": [_object(name=name)]})

    assert len(problems) == 1
    assert problems[0].startswith("objects[0].name: must be 1-40 lowercase letters")


def test_out_of_range_numbers_and_literals_are_reported() -> None:
    data = {
        "version": 2,
        "hubspot": {"mode": "sandbox"},
        "objects": [_object(batch_size=101, watermark={"column": "rv", "kind": "uuid"})],
    }
    problems = _problems(data)

    paths = sorted(p.split(":")[0] for p in problems)
    assert paths == ["hubspot.mode", "objects[0].batch_size", "objects[0].watermark.kind", "version"]


def test_no_objects_is_a_problem() -> None:
    assert [p.split(":")[0] for p in _problems({"objects": []})] == ["objects"]
    assert [p.split(":")[0] for p in _problems({})] == ["objects"]


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="expected a mapping at the top level"):
        parse_config([_object()], origin="list.yaml")


def test_config_models_are_frozen() -> None:
    config = parse_config({"objects": [_object()]})
    with pytest.raises(Exception, match="frozen"):
        config.objects[0].name = "other"  # type: ignore[misc]


def test_parse_config_does_not_modify_its_input() -> None:
    data = {"objects": [_object(fields={"email": {"column": "email", "transform": {"map": {"A": "b"}}}})]}
    before = copy.deepcopy(data)
    parse_config(data)
    assert data == before


# -- files --


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    text = "version: 1\nobjects:\n  - name: contacts\n    table: [unclosed\n    key: x\n"
    path = _write(tmp_path, text)

    with pytest.raises(ConfigurationError) as info:
        load_config(path)

    message = str(info.value)
    assert str(path) in message
    assert "not valid YAML at line 5, column 8" in message


def test_invalid_yaml_tab_indentation(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nobjects:\n\t- name: x\n")
    with pytest.raises(ConfigurationError, match=r"not valid YAML at line 3, column 1"):
        load_config(path)


def test_missing_file_names_hubsync_config(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigurationError) as info:
        load_config(path)

    assert "does not exist" in str(info.value)
    assert "HUBSYNC_CONFIG" in str(info.value)
    assert str(path) in str(info.value)


def test_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID_YAML.replace("id_property: email", "id_property: email\n    surprise: 1"))
    with pytest.raises(ConfigurationError) as info:
        load_config(path)

    assert info.value.problems == ["objects[0].surprise: unknown setting"]
    assert str(info.value).startswith(f"{path} has 1 problem(s)")


def test_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="expected a mapping at the top level"):
        load_config(_write(tmp_path, "# nothing here\n"))


@pytest.mark.parametrize("name", ["Budget", "ab", "-budget", "budget-", "budget--x", "b" * 64, "budget_x"])
def test_an_invalid_budget_container_name_is_refused(name: str) -> None:
    data = yaml.safe_load(VALID_YAML)
    data["hubspot"]["budget_container"] = name
    with pytest.raises(ConfigurationError, match="budget_container"):
        parse_config(data)


@pytest.mark.parametrize("share", [-0.1, 0.95, 1])
def test_a_reserve_share_outside_0_to_90_percent_is_refused(share: float) -> None:
    data = yaml.safe_load(VALID_YAML)
    data["hubspot"]["reserve_share"] = share
    with pytest.raises(ConfigurationError, match="reserve_share"):
        parse_config(data)


def test_a_ceiling_above_every_tier_is_refused_for_hubspot_itself_but_not_for_an_emulator() -> None:
    from shared.config import check_ceiling

    data = yaml.safe_load(VALID_YAML)
    data["hubspot"]["requests_per_10s"] = 251
    config = parse_config(data)
    with pytest.raises(ConfigurationError, match=r"requests_per_10s=251 is above .*250 per 10 s"):
        check_ceiling(config, None)
    check_ceiling(config, "http://127.0.0.1:8090")  # an emulator may allow more
    data["hubspot"]["requests_per_10s"] = 250
    check_ceiling(parse_config(data), None)


def test_the_readme_shows_the_objects_example_as_shipped() -> None:
    example = (ROOT / "examples" / "objects.yaml").read_text()
    objects = example[example.index("objects:\n") + len("objects:\n"):]
    assert objects in (ROOT / "README.md").read_text()
