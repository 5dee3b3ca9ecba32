"""The YAML sync configuration, validated by pydantic when loaded.

Every problem is reported at once with its path, e.g.
``objects[0].fields.email.transform: unknown transform 'lowr'``. The file never holds a
secret: a source URL with a password is refused (use ``HUBSYNC_SOURCE_URL``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from shared.errors import ConfigurationError
from shared.mapping.object_types import PIPELINE_PROPERTIES, check_object_type
from shared.mapping.transforms import TransformSpec, parse_transforms

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_ $#@]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """How one HubSpot property gets its value: from a column (with transforms) or a constant."""

    column: str | None = None
    constant: str | None = None
    transform: Any = None
    required: bool = False

    @field_validator("transform")
    @classmethod
    def _check_transform(cls, value: Any) -> tuple[TransformSpec, ...]:
        return parse_transforms(value)

    @model_validator(mode="after")
    def _column_or_constant(self) -> FieldSpec:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of 'column' or 'constant'")
        if self.column is not None and not _IDENT.match(self.column):
            raise ValueError(f"column {self.column!r} is not a plain column name")
        return self

    @property
    def transforms(self) -> tuple[TransformSpec, ...]:
        return self.transform or ()


class Watermark(_Strict):
    column: str
    kind: Literal["rowversion", "integer", "timestamp"]
    overlap: float | None = Field(
        default=None, ge=0,
        description="How far behind the saved watermark each run reads again, so rows of transactions that "
                    "committed after a later one are not skipped: versions for integer (default 1000), seconds "
                    "for timestamp (default 300). Rows read again that state already has cost nothing. "
                    "rowversion needs none on SQL Server (MIN_ACTIVE_ROWVERSION bounds the read).")

    @property
    def reread(self) -> float:
        """The overlap in force: the configured one, or the kind's default."""
        if self.overlap is not None:
            return self.overlap
        return {"integer": 1000.0, "timestamp": 300.0}.get(self.kind, 0.0)


class AssociationSpec(_Strict):
    """A link from each row of this object to the row of another object its foreign key names:
    in HubSpot, an association between their records."""

    to: str = Field(description="The name of the object (in this configuration) the foreign key points at.")
    column: str | list[str] = Field(
        description="The foreign key column(s) of this object's table, in the order of the target's key columns.")
    label: str | None = Field(
        default=None,
        description="A user-defined association label of the portal; none: HubSpot's default association type.")
    remove_stale: bool = Field(
        default=False,
        description="When the foreign key changes or becomes NULL, remove the link hubsync made before. Links "
                    "made by anyone else are never removed.")

    @field_validator("column")
    @classmethod
    def _check_columns(cls, value: str | list[str]) -> str | list[str]:
        columns = [value] if isinstance(value, str) else value
        if not columns:
            raise ValueError("name at least one foreign key column")
        for column in columns:
            if not _IDENT.match(column):
                raise ValueError(f"column {column!r} is not a plain column name")
        return value

    @property
    def columns(self) -> list[str]:
        return [self.column] if isinstance(self.column, str) else list(self.column)

    @property
    def name(self) -> str:
        """How state names this association of an object: a digest of its target and foreign key
        columns (16 characters: with the source key it fits SQL Server's 900-byte primary key)."""
        import hashlib

        return hashlib.sha256(f"{self.to}\0{chr(0).join(self.columns)}".encode()).hexdigest()[:16]


class ObjectConfig(_Strict):
    """One SQL table (or view) synced to one HubSpot object type."""

    name: str = Field(description="Unique name of this sync, used in state and messages.")
    object_type: str = Field(
        description="HubSpot object type: contacts, companies, deals, tickets, or a custom object's fully qualified "
                    "name (p<portalId>_<name>), short name (p_<name>) or objectTypeId (2-<n>).")
    table: str = Field(description="Table or view, optionally schema-qualified: 'dbo.Customers'.")
    key: list[str] = Field(min_length=1, description="Column(s) that identify a source row.")
    watermark: Watermark
    id_property: str = Field(
        description="HubSpot property used to match records: 'email' (contacts only) or one with hasUniqueValue.")
    fields: dict[str, FieldSpec] = Field(min_length=1)
    pipeline_map: dict[str, str] = Field(
        default_factory=dict,
        description="Deals and tickets: source values of the pipeline field -> a pipeline id or label. Values not "
                    "listed are taken as a pipeline id or label themselves.")
    stage_map: dict[str, str] = Field(
        default_factory=dict,
        description="Deals and tickets: source values of the stage field -> a stage id or label (a label is looked "
                    "up in the row's pipeline). Values not listed are taken as a stage id or label themselves.")
    null_values: Literal["clear", "omit"] = "clear"
    duplicate_owner: Literal["lowest_key", "highest_key"] = Field(
        default="lowest_key",
        description="Rows sharing a unique value that no row has synced yet: the value goes to the row with the "
                    "lowest (or highest) key; the others are rejected. A row that synced it first always keeps it.")
    on_existing: Literal["adopt", "reject"] = Field(
        default="adopt",
        description="A HubSpot record this sync did not make already holds a row's unique value (a contact's "
                    "email made by a form or an import): adopt it (write the row onto it) or reject the row.")
    phone_region: str = "US"
    batch_size: int = Field(default=100, ge=1, le=100)
    enabled: bool = True
    associations: list[AssociationSpec] = Field(
        default_factory=list,
        description="Links to other objects' records from foreign key columns, made after this object's rows "
                    "are written (as soon as the target has a HubSpot id, in any batch or run).")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9_]{0,39}$", value):
            raise ValueError("must be 1-40 lowercase letters, digits and '_' (starting with a letter)")
        return value

    @field_validator("object_type")
    @classmethod
    def _check_object_type(cls, value: str) -> str:
        return check_object_type(value)

    @field_validator("id_property")
    @classmethod
    def _check_id_property(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("object_type") == "companies" and value == "domain":
            raise ValueError("companies cannot be matched on domain: HubSpot does not keep a domain unique (several "
                             "companies may share one, and upsert by domain is refused); create a property with "
                             "unique values (hasUniqueValue), such as sql_company_id, map your key to it and name it "
                             "here")
        return value

    @field_validator("fields")
    @classmethod
    def _stage_needs_pipeline(cls, value: dict[str, FieldSpec], info: ValidationInfo) -> dict[str, FieldSpec]:
        names = PIPELINE_PROPERTIES.get(info.data.get("object_type") or "")
        if names and names[1] in value and names[0] not in value:
            raise ValueError(f"{names[1]} is mapped without {names[0]}: map {names[0]} too (a column, or a constant "
                             "such as the pipeline's id or label), since a stage is looked up in its pipeline")
        return value

    @field_validator("pipeline_map", "stage_map", mode="before")
    @classmethod
    def _text_entries(cls, value: Any) -> Any:
        if isinstance(value, dict):  # YAML reads 1: closedwon as an int key
            return {str(k): (str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
                    for k, v in value.items()}
        return value

    @field_validator("pipeline_map", "stage_map")
    @classmethod
    def _map_applies(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if not value:
            return value
        object_type = info.data.get("object_type") or ""
        names = PIPELINE_PROPERTIES.get(object_type)
        if names is None:
            raise ValueError(f"only deals and tickets have pipelines, not {object_type}")
        prop = names[0] if info.field_name == "pipeline_map" else names[1]
        fields = info.data.get("fields")  # absent when the fields themselves are wrong: reported there
        if fields is not None and prop not in fields:
            raise ValueError(f"maps values of fields.{prop}, which is not mapped")
        empty = [k for k, v in value.items() if not str(v).strip()]
        if empty:
            raise ValueError(f"entry {empty[0]!r} maps to nothing: give a {prop} id or label")
        return value

    @field_validator("phone_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (use an ISO 3166 code such as US, GB, DE)")
        return value.upper()

    @field_validator("table")
    @classmethod
    def _check_table(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) > 2 or not all(_IDENT.match(p) for p in parts):
            raise ValueError(f"{value!r} is not a table name ('table' or 'schema.table')")
        return value

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: list[str]) -> list[str]:
        for column in value:
            if not _IDENT.match(column):
                raise ValueError(f"column {column!r} is not a plain column name")
        return value

    @model_validator(mode="after")
    def _id_property_is_mapped(self) -> ObjectConfig:
        if self.id_property not in self.fields:
            raise ValueError(f"id_property {self.id_property!r} must be one of the mapped fields")
        return self

    @property
    def schema_name(self) -> str | None:
        return self.table.split(".")[0] if "." in self.table else None

    @property
    def table_name(self) -> str:
        return self.table.split(".")[-1]

    @property
    def columns(self) -> list[str]:
        """Every source column this object reads, key and watermark first, without repeats."""
        wanted = [*self.key, self.watermark.column]
        wanted += [f.column for f in self.fields.values() if f.column]
        wanted += [c for a in self.associations for c in a.columns]
        return list(dict.fromkeys(wanted))


class SourceConfig(_Strict):
    url: str | None = Field(default=None, description="SQLAlchemy URL without a password.")
    state_schema: str | None = Field(default="hubsync", description="Schema for hubsync's own tables.")
    table_prefix: str | None = Field(
        default=None,
        description="Prefix of hubsync's own tables; default 'hubsync_' without a schema (SQLite), none with one.")
    page_size: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if not value:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a SQLAlchemy URL (e.g. mssql+pyodbc://host/db?driver=...)") from None
        secret_query = {"password", "pwd", "odbc_connect"} & {k.lower() for k in url.query}
        if url.password is not None or secret_query or "pwd=" in value.lower():
            raise ValueError("must not contain a password; put the URL in HUBSYNC_SOURCE_URL instead")
        return value


HUBSPOT_MAX_PER_10S = 250  # the highest burst limit of any tier (the API limit increase add-on)


def check_ceiling(config: SyncConfig, base_url: str | None) -> None:
    """``hubspot.requests_per_10s`` above every tier's limit is a mistake when the requests go to
    HubSpot itself (``base_url`` None); an emulator or a proxy may allow more."""
    per_10s = config.hubspot.requests_per_10s
    if base_url is None and per_10s > HUBSPOT_MAX_PER_10S:
        raise ConfigurationError(
            f"hubspot.requests_per_10s={per_10s} is above HubSpot's highest burst limit for any tier "
            f"({HUBSPOT_MAX_PER_10S} per 10 s, with the API limit increase add-on): set your portal's limit "
            "(100 Free/Starter, 190 Professional/Enterprise)")


class HubSpotConfig(_Strict):
    mode: Literal["live", "emulator"] = "live"
    requests_per_10s: int = Field(
        default=100, ge=1, le=100_000,
        description="The app's burst limit per 10 s (100 Free/Starter, 190 Professional/Enterprise, 250 with the "
                    "API limit increase), shared by every instance and worker that uses the token.")
    reserve_share: float = Field(
        default=0.0, ge=0.0, le=0.9,
        description="Share of that limit left for the portal's other integrations (0 to 0.9).")
    daily_reserve: int = Field(
        default=0, ge=0,
        description="Requests of the portal's daily limit never used: below it hubsync stops as at the daily 429.")
    budget_container: str = Field(
        default="hubsync-rate-budget",
        description="Blob container (in the queues' storage account) holding the window every instance shares.")
    timeout_seconds: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)

    @field_validator("budget_container")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", value):
            raise ValueError(f"{value!r} is not a valid blob container name: use 3 to 63 lowercase letters, digits "
                             "and single hyphens, starting and ending with a letter or digit")
        return value


class QueueConfig(_Strict):
    backend: Literal["memory", "azure"] = "memory"
    max_dequeue_count: int = Field(default=5, ge=1, le=100)
    visibility_timeout_seconds: float = Field(default=30, ge=0)


class SyncConfig(_Strict):
    version: Literal[1] = 1
    demo: bool = False
    log_values: bool = Field(
        default=False,
        description="Let logs (Application Insights) carry the row values a rejection reason quotes; the state "
                    "table always keeps the whole reason.")
    source: SourceConfig = SourceConfig()
    hubspot: HubSpotConfig = HubSpotConfig()
    queue: QueueConfig = QueueConfig()
    objects: Annotated[list[ObjectConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> SyncConfig:
        names = [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"object names must be unique; repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _associations_resolve(self) -> SyncConfig:
        by_name = {o.name: o for o in self.objects}
        problems = []
        for i, obj in enumerate(self.objects):
            seen = set()
            for j, assoc in enumerate(obj.associations):
                where = f"objects[{i}].associations[{j}]"
                target = by_name.get(assoc.to)
                if target is None:
                    problems.append(f"{where}.to: no object named {assoc.to!r} in the configuration "
                                    f"(objects: {', '.join(sorted(by_name))})")
                    continue
                if target is obj:
                    problems.append(f"{where}.to: an object cannot be associated with itself yet")
                if len(assoc.columns) != len(target.key):
                    problems.append(f"{where}.column: {len(assoc.columns)} column(s) for the {len(target.key)} key "
                                    f"column(s) of {assoc.to!r} ({', '.join(target.key)})")
                if (assoc.to, assoc.label) in seen:
                    problems.append(f"{where}: a second association to {assoc.to!r} with the same label; give each "
                                    "its own label")
                seen.add((assoc.to, assoc.label))
        cycle = _association_cycle(self.objects)
        if cycle:
            problems.append(f"associations form a cycle ({' -> '.join(cycle)}): HubSpot associations go both ways, "
                            "declare each link on one side only")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def ordered(self, objects: list[ObjectConfig] | None = None) -> list[ObjectConfig]:
        """Objects in the order they are best synced: the targets of associations first, so most
        links are made in the same batch as their rows (the rest wait as pending, never lost)."""
        objects = list(self.objects if objects is None else objects)
        names = {o.name for o in objects}
        done: list[ObjectConfig] = []
        placed: set[str] = set()
        while len(done) < len(objects):
            for obj in objects:
                if obj.name not in placed and all(a.to in placed or a.to not in names for a in obj.associations):
                    done.append(obj)
                    placed.add(obj.name)
                    break
            else:  # a cycle (refused when loaded): keep the configured order for the rest
                done += [o for o in objects if o.name not in placed]
                break
        return done

    def object(self, name: str) -> ObjectConfig:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise ConfigurationError(f"no object named {name!r} in the configuration")


def _association_cycle(objects: list[ObjectConfig]) -> list[str] | None:
    """The first cycle of objects linked by associations, as names (the first repeated last)."""
    edges = {o.name: [a.to for a in o.associations] for o in objects}
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for nxt in edges.get(name, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt] if nxt in path else [name, nxt]
            if nxt in edges and state.get(nxt) is None:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[name] = 2
        return None

    for obj in objects:
        if state.get(obj.name) is None:
            found = visit(obj.name, [obj.name])
            if found:
                return found
    return None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-after", "function-before", "function-wrap")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(err: ValidationError) -> list[str]:
    problems = []
    for item in err.errors():
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown setting"
        problems.append(f"{_format_loc(tuple(item['loc']))}: {msg}")
    return problems


def parse_config(data: Any, origin: str = "configuration") -> SyncConfig:
    if not isinstance(data, dict):
        raise ConfigurationError(f"{origin}: expected a mapping at the top level")
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as err:
        problems = format_validation_error(err)
        raise ConfigurationError(
            f"{origin} has {len(problems)} problem(s):\n  " + "\n  ".join(problems), problems
        ) from None


def load_config(path: str | Path) -> SyncConfig:
    """Load and validate a YAML configuration; raise ConfigurationError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"configuration file {str(path)!r} does not exist (check --config or HUBSYNC_CONFIG)") from None
    except OSError as err:
        raise ConfigurationError(f"cannot read configuration file {str(path)!r}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigurationError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path))
