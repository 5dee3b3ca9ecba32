"""Default property definitions of the emulated HubSpot portal.

Every definition carries the full set of fields HubSpot returns from
``GET /crm/v3/properties/{objectType}`` so that the official SDK can parse it with
``client_side_validation=True``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

STANDARD_OBJECT_TYPES = ("contacts", "companies", "deals", "tickets")

# HubSpot's objectTypeId of each standard object (custom objects are ``2-<n>``).
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}

# HubSpot accepts the plural name, the singular name and the numeric type id.
OBJECT_TYPE_ALIASES = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "tickets": "tickets",
    "ticket": "tickets",
    "0-5": "tickets",
}

SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket"}

PROPERTY_TYPES = ("string", "number", "bool", "enumeration", "date", "datetime")

DEFAULT_FIELD_TYPES = {
    "string": "text",
    "number": "number",
    "bool": "booleancheckbox",
    "enumeration": "select",
    "date": "date",
    "datetime": "date",
}

# When HubSpot's built-in properties were "created".
_HUBSPOT_EPOCH = "2019-08-06T02:41:52.000Z"

# Properties returned by batch/read and GET when no property list is given.
DEFAULT_READ_PROPERTIES = {
    "contacts": ("email", "firstname", "lastname"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority"),
}

# Server-maintained timestamp properties: (set at creation, set at every write).
_TIMESTAMPS = {
    "contacts": (("createdate",), ("lastmodifieddate",)),
    "companies": (("createdate",), ("lastmodifieddate", "hs_lastmodifieddate")),
    "deals": (("createdate",), ("lastmodifieddate", "hs_lastmodifieddate")),
    "tickets": (("createdate",), ("hs_lastmodifieddate",)),
}
_CUSTOM_TIMESTAMPS = (("createdate", "hs_createdate"), ("lastmodifieddate", "hs_lastmodifieddate"))


def now_iso() -> str:
    """Current UTC time as HubSpot writes it: ``2024-01-31T12:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_object_type(object_type: str) -> str:
    """Map ``contact``/``0-1`` to ``contacts`` etc.; other names are returned unchanged."""
    return OBJECT_TYPE_ALIASES.get(object_type.lower(), object_type)


def is_standard(object_type: str) -> bool:
    return object_type in OBJECT_TYPE_IDS


def singular(object_type: str) -> str:
    return SINGULAR.get(object_type, object_type)


def group_name_for(object_type: str) -> str:
    return f"{singular(object_type)}information"


def created_properties(object_type: str) -> tuple[str, ...]:
    return _TIMESTAMPS.get(object_type, _CUSTOM_TIMESTAMPS)[0]


def modified_properties(object_type: str) -> tuple[str, ...]:
    return _TIMESTAMPS.get(object_type, _CUSTOM_TIMESTAMPS)[1]


def system_properties(object_type: str) -> tuple[str, ...]:
    """Names of the properties the server maintains on every record."""
    return ("hs_object_id", *created_properties(object_type), *modified_properties(object_type))


def default_read_properties(object_type: str) -> tuple[str, ...]:
    return DEFAULT_READ_PROPERTIES.get(object_type, ())


def _option(label: str, value: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "description": "", "displayOrder": order, "hidden": False}


def make_options(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [_option(label, value, i) for i, (label, value) in enumerate(pairs)]


def make_property(
    object_type: str,
    name: str,
    label: str,
    type_: str,
    field_type: str,
    *,
    options: list[tuple[str, str]] | None = None,
    has_unique_value: bool = False,
    hubspot_defined: bool = True,
    calculated: bool = False,
    read_only_value: bool = False,
    description: str = "",
    display_order: int = -1,
    group_name: str | None = None,
) -> dict[str, Any]:
    """A complete property definition in HubSpot's wire format."""
    created = _HUBSPOT_EPOCH if hubspot_defined else now_iso()
    definition: dict[str, Any] = {
        "updatedAt": created,
        "createdAt": created,
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": description,
        "groupName": group_name or group_name_for(object_type),
        "options": make_options(options or []),
        "displayOrder": display_order,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": has_unique_value,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "showCurrencySymbol": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only_value or calculated,
            "readOnlyOptions": False,
        },
        "formField": not (read_only_value or calculated),
        "archived": False,
    }
    if not hubspot_defined:
        definition["createdUserId"] = "1"
        definition["updatedUserId"] = "1"
    return definition


def complete_definition(object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
    """Fill every field HubSpot returns into a partial definition (custom property by default).

    Accepts HubSpot's camelCase keys and the SDK's snake_case spellings.
    Raises ``ValueError`` for a missing name or an unknown type.
    """
    aliases = {
        "field_type": "fieldType",
        "group_name": "groupName",
        "has_unique_value": "hasUniqueValue",
        "hubspot_defined": "hubspotDefined",
        "display_order": "displayOrder",
        "external_options": "externalOptions",
        "form_field": "formField",
        "modification_metadata": "modificationMetadata",
        "show_currency_symbol": "showCurrencySymbol",
    }
    given = {aliases.get(k, k): copy.deepcopy(v) for k, v in definition.items()}
    name = given.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a property definition needs a non-empty 'name'")
    type_ = given.get("type", "string")
    if type_ not in PROPERTY_TYPES:
        raise ValueError(f"unknown property type {type_!r}; expected one of {PROPERTY_TYPES}")
    hubspot_defined = bool(given.get("hubspotDefined", False))
    base = make_property(
        object_type,
        name,
        given.get("label") or name,
        type_,
        given.get("fieldType") or DEFAULT_FIELD_TYPES[type_],
        hubspot_defined=hubspot_defined,
        has_unique_value=bool(given.get("hasUniqueValue", False)),
        calculated=bool(given.get("calculated", False)),
    )
    options = given.pop("options", None)
    metadata = given.pop("modificationMetadata", None)
    base.update(given)
    if options is not None:
        base["options"] = []
        for i, opt in enumerate(options):
            if isinstance(opt, str):
                opt = {"label": opt, "value": opt}
            full = _option(str(opt.get("label", opt.get("value", ""))), str(opt.get("value", "")), i)
            full.update({k: v for k, v in opt.items() if k in ("description", "displayOrder", "hidden")})
            full["displayOrder"] = opt.get("displayOrder", opt.get("display_order", i))
            base["options"].append(full)
    if metadata:
        mm = base["modificationMetadata"]
        for key, value in metadata.items():
            mm[{"read_only_value": "readOnlyValue", "read_only_definition": "readOnlyDefinition",
                "read_only_options": "readOnlyOptions"}.get(key, key)] = bool(value)
    if base["calculated"]:
        base["modificationMetadata"]["readOnlyValue"] = True
    return base


def _system_definitions(object_type: str) -> list[dict[str, Any]]:
    defs = [
        make_property(object_type, "hs_object_id", "Record ID", "number", "number",
                      calculated=True, read_only_value=True,
                      description="The unique ID for this record. Set automatically by HubSpot."),
    ]
    for name in created_properties(object_type):
        defs.append(make_property(object_type, name, "Create Date", "datetime", "date", read_only_value=True))
    for name in modified_properties(object_type):
        defs.append(make_property(object_type, name, "Last Modified Date", "datetime", "date",
                                  read_only_value=True))
    return defs


def system_definitions(object_type: str) -> dict[str, dict[str, Any]]:
    """The server-maintained properties every object type has (used for custom object types)."""
    return {d["name"]: d for d in _system_definitions(object_type)}


def _contacts() -> list[dict[str, Any]]:
    t = "contacts"
    p = make_property
    return [
        p(t, "email", "Email", "string", "text"),
        p(t, "firstname", "First Name", "string", "text"),
        p(t, "lastname", "Last Name", "string", "text"),
        p(t, "phone", "Phone Number", "string", "phonenumber"),
        p(t, "mobilephone", "Mobile Phone Number", "string", "phonenumber"),
        p(t, "company", "Company Name", "string", "text"),
        p(t, "jobtitle", "Job Title", "string", "text"),
        p(t, "city", "City", "string", "text"),
        p(t, "country", "Country/Region", "string", "text"),
        p(t, "address", "Street Address", "string", "text"),
        p(t, "zip", "Postal Code", "string", "text"),
        p(t, "website", "Website URL", "string", "text"),
        p(t, "lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=[
            ("Subscriber", "subscriber"),
            ("Lead", "lead"),
            ("Marketing Qualified Lead", "marketingqualifiedlead"),
            ("Sales Qualified Lead", "salesqualifiedlead"),
            ("Opportunity", "opportunity"),
            ("Customer", "customer"),
            ("Evangelist", "evangelist"),
            ("Other", "other"),
        ]),
        p(t, "hs_lead_status", "Lead Status", "enumeration", "select", options=[
            ("New", "NEW"),
            ("Open", "OPEN"),
            ("In Progress", "IN_PROGRESS"),
            ("Open Deal", "OPEN_DEAL"),
            ("Unqualified", "UNQUALIFIED"),
            ("Attempted to Contact", "ATTEMPTED_TO_CONTACT"),
            ("Connected", "CONNECTED"),
            ("Bad Timing", "BAD_TIMING"),
        ]),
        p(t, "date_of_birth", "Date of birth", "date", "date"),
        p(t, "annualrevenue", "Annual Revenue", "number", "number"),
        *_system_definitions(t),
        # Custom properties of the emulated portal.
        p(t, "external_id", "External ID", "string", "text", has_unique_value=True, hubspot_defined=False),
        p(t, "is_vip", "Is VIP", "bool", "booleancheckbox", hubspot_defined=False,
          options=[("Yes", "true"), ("No", "false")]),
        p(t, "signup_date", "Signup Date", "date", "date", hubspot_defined=False),
        p(t, "last_order_at", "Last Order At", "datetime", "date", hubspot_defined=False),
        p(t, "customer_tier", "Customer Tier", "enumeration", "select", hubspot_defined=False,
          options=[("Bronze", "bronze"), ("Silver", "silver"), ("Gold", "gold")]),
    ]


def _companies() -> list[dict[str, Any]]:
    t = "companies"
    p = make_property
    return [
        p(t, "name", "Company name", "string", "text"),
        p(t, "domain", "Company Domain Name", "string", "text"),
        p(t, "city", "City", "string", "text"),
        p(t, "country", "Country/Region", "string", "text"),
        p(t, "industry", "Industry", "enumeration", "select", options=[
            ("Accounting", "ACCOUNTING"),
            ("Computer Software", "COMPUTER_SOFTWARE"),
            ("Financial Services", "FINANCIAL_SERVICES"),
            ("Hospital & Health Care", "HOSPITAL_HEALTH_CARE"),
            ("Retail", "RETAIL"),
            ("Information Technology and Services", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
        ]),
        p(t, "numberofemployees", "Number of Employees", "number", "number"),
        p(t, "annualrevenue", "Annual Revenue", "number", "number"),
        *_system_definitions(t),
        p(t, "external_id", "External ID", "string", "text", has_unique_value=True, hubspot_defined=False),
    ]


def _deals() -> list[dict[str, Any]]:
    t = "deals"
    p = make_property
    return [
        p(t, "dealname", "Deal Name", "string", "text"),
        p(t, "amount", "Amount", "number", "number"),
        # Options: the stages and pipelines of pipelines.py (the store keeps them in step).
        p(t, "dealstage", "Deal Stage", "enumeration", "radio"),
        p(t, "pipeline", "Pipeline", "enumeration", "select"),
        p(t, "closedate", "Close Date", "datetime", "date"),
        *_system_definitions(t),
        p(t, "external_id", "External ID", "string", "text", has_unique_value=True, hubspot_defined=False),
    ]


def _tickets() -> list[dict[str, Any]]:
    t = "tickets"
    p = make_property
    return [
        p(t, "subject", "Ticket name", "string", "text"),
        p(t, "content", "Ticket description", "string", "textarea"),
        # Options: the pipelines and stages of pipelines.py (the store keeps them in step).
        p(t, "hs_pipeline", "Pipeline", "enumeration", "select"),
        p(t, "hs_pipeline_stage", "Ticket status", "enumeration", "select"),
        p(t, "hs_ticket_priority", "Priority", "enumeration", "select", options=[
            ("Low", "LOW"), ("Medium", "MEDIUM"), ("High", "HIGH"), ("Urgent", "URGENT"),
        ]),
        p(t, "hs_ticket_category", "Category", "enumeration", "checkbox", options=[
            ("Product issue", "PRODUCT_ISSUE"),
            ("Billing issue", "BILLING_ISSUE"),
            ("Feature request", "FEATURE_REQUEST"),
            ("General inquiry", "GENERAL_INQUIRY"),
        ]),
        *_system_definitions(t),
        p(t, "external_id", "External ID", "string", "text", has_unique_value=True, hubspot_defined=False),
    ]


def default_definitions() -> dict[str, dict[str, dict[str, Any]]]:
    """``{objectType: {propertyName: definition}}`` for the standard objects, in display order."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    standard = (("contacts", _contacts()), ("companies", _companies()), ("deals", _deals()), ("tickets", _tickets()))
    for object_type, defs in standard:
        for i, d in enumerate(defs):
            if d["displayOrder"] == -1 and d["hubspotDefined"] and not d["calculated"]:
                d["displayOrder"] = i
        result[object_type] = {d["name"]: d for d in defs}
    return result
