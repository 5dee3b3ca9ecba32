"""The typed offline check of the Bicep under infra/ (bicep_typecheck.py): every real template
checks clean against Azure's type data, and each kind of mistake Bicep would flag is reported
with the file, line, resource and property path."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from . import INFRA_DIR, bicep_files
from .bicep_typecheck import TYPES_DIR, check

pytestmark = pytest.mark.infra

SITE = """\
param location string = 'westeurope'
param planId string
param flag bool = true

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-test'
  location: location
  kind: 'functionapp,linux'
  properties: {
    serverFarmId: planId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        {
          name: 'A'
          value: 'b'
        }
      ]
    }
  }
}
"""

STORAGE = """\
param names array = ['a', 'b']
param flag bool = true

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'stexample'
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for n in names: {
  parent: blobs
  name: n
  properties: {
    publicAccess: 'None'
  }
}]

resource maybe 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (flag) {
  parent: blobs
  name: 'maybe'
  properties: {
    publicAccess: 'None'
  }
}
"""

MODULE = """\
param name string
param count int = 1
@allowed([
  'a'
  'b'
])
param mode string = 'a'
param settings object = {}
"""

MODULE_CALL = """\
module mod './mod.bicep' = {
  name: 'mod'
  params: {
    name: 'x'
    count: 2
    mode: 'b'
    settings: {
      anything: true
    }
  }
}
"""


def run(tmp_path: Path, text: str, **others: str) -> list[str]:
    """Findings, as printed, of a template written to tmp_path/bad.bicep (plus other files)."""
    for name, content in others.items():
        (tmp_path / name.replace("_", ".")).write_text(content)
    path = tmp_path / "bad.bicep"
    path.write_text(text)
    return [str(f) for f in check([path]).findings]


def one(findings: list[str], *parts: str) -> str:
    assert len(findings) == 1, "\n".join(findings) or "no finding"
    for part in parts:
        assert part in findings[0], f"{part!r} not in {findings[0]!r}"
    return findings[0]


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- the checker on small templates ---------------------------------------------------------------


def test_a_correct_template_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "good.bicep"
    path.write_text(SITE)
    report = check([path])
    assert report.findings == []
    assert report.resources == ["Microsoft.Web/sites@2024-04-01"]
    assert report.properties >= 10


def test_unknown_api_version_is_an_error(tmp_path: Path) -> None:
    found = run(tmp_path, edit(SITE, "sites@2024-04-01", "sites@2099-01-01"))
    one(found, "bad.bicep:5:", "resource site 'Microsoft.Web/sites@2099-01-01'",
        "unknown api-version 2099-01-01 for Microsoft.Web/sites", "the type data has 2024-04-01")


def test_unknown_resource_type_and_missing_type_data_are_errors(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "Microsoft.Web/sites@", "Microsoft.Web/sitez@")),
        "bad.bicep:5:", "unknown resource type Microsoft.Web/sitez", "did you mean Microsoft.Web/sites?")
    one(run(tmp_path, edit(SITE, "Microsoft.Web/sites@2024-04-01", "Microsoft.Sql/servers@2023-08-01")),
        "bad.bicep:5:", "no type data for Microsoft.Sql/servers@2023-08-01")
    one(run(tmp_path, edit(SITE, "Microsoft.Web/sites@2024-04-01", "Microsoft.Web/sites")), "has no api-version")


def test_unknown_property_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    found = run(tmp_path, edit(SITE, "serverFarmId:", "serverFarmIdd:"))
    one(found, "bad.bicep:10:", "resource site 'Microsoft.Web/sites@2024-04-01'",
        "properties.serverFarmIdd: unknown property (did you mean 'serverFarmId'?)")


def test_property_names_are_case_sensitive(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "httpsOnly:", "HttpsOnly:")),
        "properties.HttpsOnly: unknown property (did you mean 'httpsOnly'?)")


def test_unknown_nested_properties_are_errors_with_their_path(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "minTlsVersion:", "minTlsVersionn:")),
        "bad.bicep:13:", "properties.siteConfig.minTlsVersionn: unknown property")
    one(run(tmp_path, edit(SITE, "value: 'b'", "valu: 'b'")),
        "bad.bicep:17:", "properties.siteConfig.appSettings[0].valu: unknown property (did you mean 'value'?)")
    one(run(tmp_path, edit(SITE, "  kind:", "  knd:")), "bad.bicep:8:", "knd: unknown property")


def test_a_value_of_the_wrong_primitive_type_is_an_error(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "httpsOnly: true", "httpsOnly: 'yes'")),
        "bad.bicep:11:", "properties.httpsOnly: expected bool, got string 'yes'")
    one(run(tmp_path, edit(SITE, "minTlsVersion: '1.2'", "minTlsVersion: 12")),
        "properties.siteConfig.minTlsVersion: expected", "got int 12")
    settings = "appSettings: [\n        {\n          name: 'A'\n          value: 'b'\n        }\n      ]"
    one(run(tmp_path, edit(SITE, settings, "appSettings: {}")), "properties.siteConfig.appSettings: expected array, got object")
    one(run(tmp_path, edit(SITE, "name: 'A'", "name: true")), "properties.siteConfig.appSettings[0].name: expected string")


def test_parameters_count_with_their_declared_type_and_both_branches_of_a_condition(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "httpsOnly: true", "httpsOnly: location")),
        "properties.httpsOnly: expected bool, got string (parameter location)")
    one(run(tmp_path, edit(SITE, "httpsOnly: true", "httpsOnly: flag ? true : 'no'")),
        "properties.httpsOnly: expected bool, got string 'no'")
    assert run(tmp_path, edit(SITE, "httpsOnly: true", "httpsOnly: flag ? true : !flag")) == []


def test_a_variable_is_checked_where_it_is_used(tmp_path: Path) -> None:
    text = edit(SITE, "    siteConfig: {\n      minTlsVersion: '1.2'", "    siteConfig: {\n      minTlsVersion: tls")
    text = "var tls = {\n  version: '1.2'\n}\n" + text
    one(run(tmp_path, text), "properties.siteConfig.minTlsVersion: expected", "string, got object")


def test_setting_a_read_only_property_is_an_error(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "httpsOnly: true", "httpsOnly: true\n    defaultHostName: 'x'")),
        "bad.bicep:12:", "properties.defaultHostName: read-only property")
    one(run(tmp_path, edit(SITE, "  kind:", "  id: 'x'\n  kind:")), "id: read-only property")


def test_a_missing_required_property_is_an_error(tmp_path: Path) -> None:
    one(run(tmp_path, edit(SITE, "  location: location\n", "")),
        "bad.bicep:5:", "resource site", "missing required property location")


def test_a_closed_string_union_accepts_only_its_literals(tmp_path: Path) -> None:
    one(run(tmp_path, edit(STORAGE, "publicAccess: 'None'\n  }\n}]", "publicAccess: 'Private'\n  }\n}]")),
        "resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01'",
        "properties.publicAccess: expected 'Container' | 'Blob' | 'None', got 'Private'")
    one(run(tmp_path, edit(STORAGE, "publicAccess: 'None'\n  }\n}]", "publicAccess: 'none'\n  }\n}]")),
        "did you mean 'None'?")


def test_loops_conditions_existing_and_parent_resources_are_checked(tmp_path: Path) -> None:
    assert run(tmp_path, STORAGE) == []
    assert check([tmp_path / "bad.bicep"]).resources == [
        "Microsoft.Storage/storageAccounts@2023-05-01",
        "Microsoft.Storage/storageAccounts/blobServices@2023-05-01",
        "Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01",
        "Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01",
    ]
    one(run(tmp_path, edit(STORAGE, "publicAccess: 'None'\n  }\n}]", "publicAcess: 'None'\n  }\n}]")),
        "bad.bicep:17:", "resource containers", "properties.publicAcess: unknown property")
    one(run(tmp_path, edit(STORAGE, "publicAccess: 'None'\n  }\n}\n", "publicAccesss: 'None'\n  }\n}\n")),
        "bad.bicep:25:", "resource maybe", "properties.publicAccesss: unknown property")


def test_an_existing_resource_takes_only_name_parent_and_scope(tmp_path: Path) -> None:
    one(run(tmp_path, edit(STORAGE, "  name: 'stexample'\n", "  name: 'stexample'\n  kind: 'StorageV2'\n")),
        "bad.bicep:6:", "resource account", "kind: an 'existing' resource takes only name, parent and scope")
    one(run(tmp_path, edit(STORAGE, "storageAccounts@2023-05-01' existing", "storageAccounts@2099-01-01' existing")),
        "resource account", "unknown api-version 2099-01-01")


def test_read_only_resource_types_are_only_referenced_as_existing(tmp_path: Path) -> None:
    revision = "resource rev 'Microsoft.Insights/workbooks/revisions@2023-06-01' existing = {\n  name: 'x/y'\n}\n"
    assert run(tmp_path, revision) == []
    one(run(tmp_path, revision.replace(" existing", "")),
        "bad.bicep:1:", "resource rev", "read-only: reference it with 'existing'")
    config = "resource cfg 'Microsoft.Web/sites/config@2024-04-01' existing = {\n  name: 'x/web'\n}\n"
    one(run(tmp_path, config), "resource cfg", "cannot be referenced with 'existing'")


def test_nested_child_resources_take_the_parent_type_and_api_version(tmp_path: Path) -> None:
    nested = edit(SITE, "  properties: {\n    serverFarmId", """\
  resource web 'config' = {
    name: 'web'
    properties: {
      minTlsVersion: '1.2'
    }
  }
  properties: {
    serverFarmId""")
    assert run(tmp_path, nested) == []
    assert "Microsoft.Web/sites/config@2024-04-01" in check([tmp_path / "bad.bicep"]).resources
    one(run(tmp_path, edit(nested, "      minTlsVersion: '1.2'\n    }\n  }", "      minTlsVersio: '1.2'\n    }\n  }")),
        "bad.bicep:12:", "resource web 'Microsoft.Web/sites/config@2024-04-01'", "properties.minTlsVersio: unknown property")


def test_discriminated_objects_pick_their_variant(tmp_path: Path) -> None:
    config = SITE + """
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: {
    FOO: 'bar'
  }
}
"""
    assert run(tmp_path, config) == []
    one(run(tmp_path, edit(config, "FOO: 'bar'", "FOO: 1")),
        "resource settings 'Microsoft.Web/sites/config@2024-04-01'", "properties.FOO: expected string, got int 1")
    unknown = one(run(tmp_path, edit(config, "name: 'appsettings'", "name: 'appsetings'")),
                  "bad.bicep:26:", "name: unknown variant 'appsetings'")
    assert "'appsettings'" in unknown and "'web'" in unknown
    one(run(tmp_path, edit(config, "name: 'appsettings'\n  properties: {\n    FOO: 'bar'",
                           "name: 'web'\n  properties: {\n    FOO: 'bar'")),
        "properties.FOO: unknown property")


def test_module_parameters_are_checked_against_the_module_file(tmp_path: Path) -> None:
    assert run(tmp_path, MODULE_CALL, mod_bicep=MODULE) == []
    bad = edit(MODULE_CALL, "    name: 'x'\n    count: 2\n    mode: 'b'", "    count: 'two'\n    mode: 'c'\n    nme: 'x'")
    found = run(tmp_path, bad, mod_bicep=MODULE)
    assert len(found) == 4, "\n".join(found)
    text = "\n".join(found)
    assert "bad.bicep:4: module mod './mod.bicep': params.count: expected int, got string 'two'" in text
    assert "params.mode: expected 'a' | 'b', got 'c'" in text
    assert "params.nme: ./mod.bicep has no parameter nme (did you mean 'name'?)" in text
    assert "bad.bicep:1: module mod './mod.bicep': params: missing required parameter name" in text
    one(run(tmp_path, edit(MODULE_CALL, "  name: 'mod'", "  nam: 'mod'"), mod_bicep=MODULE), "nam: unknown module property")


def test_a_file_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    one(run(tmp_path, SITE[:-4]), "bad.bicep:", "cannot parse")


# --- the real templates ------------------------------------------------------------------------


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA_DIR).as_posix())
def test_every_template_in_infra_checks_clean(path: Path) -> None:
    report = check([path])
    assert not report.findings, "\n".join(map(str, report.findings))


def test_every_resource_in_infra_was_checked_against_type_data() -> None:
    declared = sum(len(re.findall(r"^\s*resource \w+ '", p.read_text(), re.MULTILINE)) for p in bicep_files())
    report = check([INFRA_DIR])
    assert declared >= 20 and len(report.resources) == declared, report.resources
    assert report.properties > 200


BUGS = [  # (file, correct text, bug, what the finding must say)
    ("app/function.bicep", "'Microsoft.Web/sites@2024-04-01'", "'Microsoft.Web/sites@2099-01-01'",
     "resource site 'Microsoft.Web/sites@2099-01-01': unknown api-version 2099-01-01"),
    ("app/function.bicep", "serverFarmId: plan.id", "serverFarmIdd: plan.id",
     "resource site 'Microsoft.Web/sites@2024-04-01': properties.serverFarmIdd: unknown property"),
    ("app/function.bicep", "httpsOnly: true", "httpsOnly: 'true'", "properties.httpsOnly: expected bool, got string 'true'"),
    ("app/function.bicep", "name: 'python'", "nme: 'python'", "properties.functionAppConfig.runtime.nme: unknown property"),
    ("app/storage.bicep", "publicAccess: 'None'", "publicAccess: 'Private'", "properties.publicAccess: expected"),
    ("app/monitoring.bicep", "DisableLocalAuth: true", "disableLocalAuth: true",
     "properties.disableLocalAuth: unknown property (did you mean 'DisableLocalAuth'?)"),
    ("main.bicep", "retentionInDays: logRetentionDays", "retentionInDays: 'thirty'",
     "module monitoring './app/monitoring.bicep': params.retentionInDays: expected int"),
]


@pytest.mark.parametrize(("file", "good", "bad", "message"), BUGS, ids=[b[2] for b in BUGS])
def test_a_bug_put_back_into_a_real_template_fails(tmp_path: Path, file: str, good: str, bad: str, message: str) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA_DIR, copy)
    target = copy / file
    text = target.read_text()
    assert good in text, f"{file} no longer says {good!r}: update BUGS"
    target.write_text(text.replace(good, bad, 1))
    found = [str(f) for f in check([copy]).findings]
    one(found, f"{Path(file).name}:", message)


# --- the type data copied into the repository ---------------------------------------------------


def used_type_files() -> set[tuple[str, str]]:
    """(namespace, api-version) of every resource type infra/ declares, lower case."""
    used = set()
    for path in bicep_files():
        for type_, version in re.findall(r"'([A-Za-z]+\.[A-Za-z.]+)/[^'@]+@([0-9a-z-]+)'", path.read_text()):
            used.add((type_.lower(), version))
    return used


def test_the_type_data_holds_exactly_the_api_versions_infra_uses() -> None:
    copied = {(p.parent.parent.name, p.parent.name) for p in TYPES_DIR.rglob("types.json")}
    assert used_type_files() == copied, (
        f"missing: {sorted(used_type_files() - copied)}, unused: {sorted(copied - used_type_files())} "
        f"(see {TYPES_DIR.relative_to(INFRA_DIR.parent)}/README.md)")


def test_the_type_data_is_unmodified_and_carries_its_licence_and_source() -> None:
    readme = (TYPES_DIR / "README.md").read_text()
    assert "Azure/bicep-types-az" in readme and re.search(r"commit\s+`[0-9a-f]{40}`", readme)
    assert "MIT License" in (TYPES_DIR / "LICENSE").read_text()
    sums = dict(re.findall(r"^([0-9a-f]{64})  (\S+/types\.json)$", readme, re.MULTILINE))
    files = {p.relative_to(TYPES_DIR).as_posix(): p for p in TYPES_DIR.rglob("types.json")}
    assert set(sums.values()) == set(files), "README.md must list the sha256 of every types.json"
    for digest, name in sums.items():
        assert hashlib.sha256(files[name].read_bytes()).hexdigest() == digest, f"{name} differs from the source"
