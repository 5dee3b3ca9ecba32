"""shared/mapping/data_validator.py: mapped values checked against the portal's property definitions."""

from __future__ import annotations

import pytest

from shared.mapping.data_validator import PortalSchema, PropertyDef

pytestmark = pytest.mark.unit

DEFS = [
    PropertyDef("email", "string", "text", unique=False),
    PropertyDef("firstname", "string", "text"),
    PropertyDef("notes", "string", "textarea"),
    PropertyDef("work_email", "string", "email"),
    PropertyDef("lifecyclestage", "enumeration", "radio", frozenset({"lead", "customer", "opportunity"})),
    PropertyDef("interests", "enumeration", "checkbox", frozenset({"golf", "tennis", "chess"})),
    PropertyDef("is_vip", "bool", "booleancheckbox", frozenset({"true", "false"})),
    PropertyDef("opted_in", "bool", "booleancheckbox"),
    PropertyDef("annualrevenue", "number", "number"),
    PropertyDef("signup_date", "date", "date"),
    PropertyDef("last_order_at", "datetime", "date"),
    PropertyDef("hs_object_id", "number", "number", read_only=True),
    PropertyDef("customer_number", "string", "text", unique=True),
]


@pytest.fixture
def schema() -> PortalSchema:
    return PortalSchema("contacts", DEFS)


def one(schema: PortalSchema, name: str, value: str) -> str | None:
    problems = schema.validate({name: value})
    assert len(problems) <= 1
    return problems[0] if problems else None


def test_valid_properties_have_no_problems(schema: PortalSchema) -> None:
    props = {
        "email": "jane@example.com",
        "firstname": "Jane",
        "work_email": "jane@work.example.com",
        "lifecyclestage": "customer",
        "interests": "golf;chess",
        "is_vip": "true",
        "opted_in": "false",
        "annualrevenue": "-1200.5",
        "signup_date": "2024-02-29",
        "last_order_at": "2024-02-29T10:11:12.345Z",
        "customer_number": "C-1",
    }
    assert schema.validate(props) == []


def test_types_lists_every_property(schema: PortalSchema) -> None:
    types = schema.types()
    assert types["signup_date"] == "date"
    assert types["is_vip"] == "bool"
    assert len(types) == len(DEFS)


def test_unknown_property(schema: PortalSchema) -> None:
    assert one(schema, "favourite_colour", "blue") == (
        "favourite_colour: property does not exist on contacts (PROPERTY_DOESNT_EXIST)"
    )


def test_read_only_property(schema: PortalSchema) -> None:
    assert one(schema, "hs_object_id", "5") == "hs_object_id: property is read-only (READ_ONLY_VALUE)"
    # even clearing a read-only property is refused
    assert one(schema, "hs_object_id", "") == "hs_object_id: property is read-only (READ_ONLY_VALUE)"


@pytest.mark.parametrize("name", [d.name for d in DEFS if not d.read_only])
def test_empty_string_is_always_valid(schema: PortalSchema, name: str) -> None:
    assert schema.validate({name: ""}) == []


def test_enumeration_option_not_allowed(schema: PortalSchema) -> None:
    problem = one(schema, "lifecyclestage", "prospect")
    assert problem is not None
    assert problem.startswith("lifecyclestage: 'prospect' is not an option (INVALID_OPTION)")
    assert "allowed: customer, lead, opportunity" in problem


def test_enumeration_options_are_case_sensitive(schema: PortalSchema) -> None:
    assert one(schema, "lifecyclestage", "Customer") is not None


def test_radio_enumeration_does_not_split_on_semicolons(schema: PortalSchema) -> None:
    assert one(schema, "lifecyclestage", "lead;customer") is not None


@pytest.mark.parametrize("value", ["golf", "golf;tennis", "golf;tennis;chess", ";golf;", "chess;"])
def test_checkbox_multi_values(schema: PortalSchema, value: str) -> None:
    assert one(schema, "interests", value) is None


def test_checkbox_with_one_bad_value_names_it(schema: PortalSchema) -> None:
    problem = one(schema, "interests", "golf;darts;tennis")
    assert problem is not None
    assert problem.startswith("interests: 'darts' is not an option (INVALID_OPTION)")


@pytest.mark.parametrize("value, ok", [("true", True), ("false", True), ("yes", False), ("True", False), ("1", False)])
def test_bool(schema: PortalSchema, value: str, ok: bool) -> None:
    assert (one(schema, "is_vip", value) is None) is ok
    assert (one(schema, "opted_in", value) is None) is ok


def test_bool_without_options_message(schema: PortalSchema) -> None:
    assert one(schema, "opted_in", "yes") == "opted_in: 'yes' is not true/false (INVALID_OPTION)"


@pytest.mark.parametrize("value", ["0", "42", "-42", "3.14", "-0.5", "1200.50"])
def test_good_numbers(schema: PortalSchema, value: str) -> None:
    assert one(schema, "annualrevenue", value) is None


@pytest.mark.parametrize("value", ["abc", "1,200", "1e5", "1.", ".5", "--1", "12 ", "NaN"])
def test_bad_numbers(schema: PortalSchema, value: str) -> None:
    assert one(schema, "annualrevenue", value) == f"annualrevenue: {value!r} is not a number (INVALID_INTEGER)"


@pytest.mark.parametrize(
    "value, ok",
    [
        ("2024-02-29", True),
        ("2024-02-30", False),
        ("2024-2-9", False),
        ("20240229", False),
        ("29/02/2024", False),
        ("2024-02-29T00:00:00Z", False),
        ("1709164800000", True),  # epoch ms at UTC midnight (2024-02-29)
        ("0", True),
        ("1709164800001", False),  # epoch ms not at midnight
        ("1709208000000", False),  # 2024-02-29T12:00Z
    ],
)
def test_date(schema: PortalSchema, value: str, ok: bool) -> None:
    problem = one(schema, "signup_date", value)
    if ok:
        assert problem is None
    else:
        assert problem == f"signup_date: {value!r} is not a YYYY-MM-DD date (INVALID_DATE)"


@pytest.mark.parametrize(
    "value, ok",
    [
        ("2024-02-29T10:11:12.345Z", True),
        ("2024-02-29T10:11:12+02:00", True),
        ("2024-02-29", True),
        ("1709208000123", True),  # epoch ms
        ("2024-02-30T10:00:00Z", False),
        ("yesterday", False),
        ("10:11:12", False),
    ],
)
def test_datetime(schema: PortalSchema, value: str, ok: bool) -> None:
    problem = one(schema, "last_order_at", value)
    if ok:
        assert problem is None
    else:
        assert problem == f"last_order_at: {value!r} is not an ISO 8601 datetime (INVALID_DATE)"


def test_string_length_limit(schema: PortalSchema) -> None:
    assert one(schema, "notes", "x" * 65_536) is None
    problem = one(schema, "notes", "x" * 65_537)
    assert problem == "notes: value has 65537 characters, more than HubSpot's 65536"


def test_over_long_value_is_reported_before_type_checks(schema: PortalSchema) -> None:
    assert "65537 characters" in (one(schema, "annualrevenue", "1" * 65_537) or "")


@pytest.mark.parametrize("name", ["email", "work_email"])
def test_email_shaped_properties(schema: PortalSchema, name: str) -> None:
    assert one(schema, name, "jane@example.com") is None
    assert one(schema, name, "jane.example.com") == f"{name}: 'jane.example.com' is not a valid email (INVALID_EMAIL)"
    assert one(schema, name, "jane@example") is not None


def test_every_problem_of_a_record_is_listed(schema: PortalSchema) -> None:
    problems = schema.validate({
        "nope": "x", "hs_object_id": "1", "annualrevenue": "x", "signup_date": "x", "firstname": "ok",
    })
    assert [p.split(":")[0] for p in problems] == ["nope", "hs_object_id", "annualrevenue", "signup_date"]


# -- check_mapping --


def test_check_mapping_ok(schema: PortalSchema) -> None:
    assert schema.check_mapping(["email", "firstname", "lifecyclestage"], "email") == []
    assert schema.check_mapping(["customer_number", "firstname"], "customer_number") == []


def test_check_mapping_unknown_and_read_only_targets(schema: PortalSchema) -> None:
    problems = schema.check_mapping(["email", "favourite_colour", "hs_object_id"], "email")
    assert problems == [
        "property 'favourite_colour' does not exist on contacts",
        "property 'hs_object_id' of contacts is read-only",
    ]


def test_check_mapping_id_property_must_be_unique(schema: PortalSchema) -> None:
    problems = schema.check_mapping(["firstname", "email"], "firstname")
    assert len(problems) == 1
    assert problems[0].startswith("id_property 'firstname' is not a unique property of contacts")
    assert "hasUniqueValue" in problems[0]


def test_email_is_an_id_property_only_on_contacts() -> None:
    email = PropertyDef("email", "string", "text")
    assert PortalSchema("contacts", [email]).check_mapping(["email"], "email") == []
    problems = PortalSchema("companies", [email]).check_mapping(["email"], "email")
    assert len(problems) == 1
    assert problems[0].startswith("id_property 'email' is not a unique property of companies")


# -- PropertyDef.from_api --


def test_from_api_on_a_properties_api_shape() -> None:
    data = {
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "createdAt": "2019-08-06T02:41:08.029Z",
        "name": "lifecyclestage",
        "label": "Lifecycle Stage",
        "type": "enumeration",
        "fieldType": "radio",
        "description": "The qualification of contacts to sales readiness.",
        "groupName": "contactinformation",
        "options": [
            {"label": "Lead", "value": "lead", "displayOrder": 2, "hidden": False},
            {"label": "Customer", "value": "customer", "displayOrder": 6, "hidden": False},
            {"label": "Numeric", "value": 7, "displayOrder": 7, "hidden": False},
            {"label": "No value"},
        ],
        "displayOrder": 5,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": True,
        "modificationMetadata": {"archivable": True, "readOnlyDefinition": True, "readOnlyValue": False},
        "formField": True,
    }
    prop = PropertyDef.from_api(data)

    assert prop == PropertyDef(
        name="lifecyclestage", type="enumeration", field_type="radio",
        options=frozenset({"lead", "customer", "7"}), read_only=False, unique=False,
    )


@pytest.mark.parametrize(
    "extra, read_only, unique",
    [
        ({"modificationMetadata": {"readOnlyValue": True}}, True, False),
        ({"calculated": True}, True, False),
        ({"hasUniqueValue": True}, False, True),
        ({"modificationMetadata": None, "options": None}, False, False),
        ({}, False, False),
    ],
)
def test_from_api_flags(extra: dict, read_only: bool, unique: bool) -> None:
    prop = PropertyDef.from_api({"name": "x", **extra})
    assert prop.read_only is read_only
    assert prop.unique is unique
    assert prop.type == "string"
    assert prop.field_type == "text"
    assert prop.options == frozenset()


def test_schema_built_from_api_validates() -> None:
    schema = PortalSchema("contacts", [
        PropertyDef.from_api({"name": "hs_object_id", "type": "number", "fieldType": "number",
                              "modificationMetadata": {"readOnlyValue": True}}),
        PropertyDef.from_api({"name": "tier", "type": "enumeration", "fieldType": "select",
                              "options": [{"label": "Gold", "value": "gold"}]}),
    ])
    assert schema.validate({"tier": "gold"}) == []
    assert schema.validate({"tier": "silver", "hs_object_id": "1"}) == [
        "tier: 'silver' is not an option (INVALID_OPTION); allowed: gold",
        "hs_object_id: property is read-only (READ_ONLY_VALUE)",
    ]
