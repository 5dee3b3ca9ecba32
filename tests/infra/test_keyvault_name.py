"""A teardown and redeploy can get a vault: the old one is soft-deleted for 90 days with purge
protection, so its name stays taken. main.bicep keeps today's name by default and takes another
on request (keyVaultGeneration); docs/azure.md says how to recover the old vault instead."""

from __future__ import annotations

import re

import pytest

from . import INFRA_DIR, REPO_ROOT, param_defaults, parse_bicep

pytestmark = pytest.mark.infra

MAIN = INFRA_DIR / "main.bicep"


def vault_name_expression(text: str) -> str:
    block = text[text.index("module keyVault './app/keyvault.bicep'"):]
    match = re.search(r"^\s*name: '(kv-[^\n]*)'$", block, re.M)
    assert match, "the Key Vault module has no literal name"
    return match.group(1)


def test_vault_name_changes_only_on_request_and_fits() -> None:
    doc = parse_bicep(MAIN)
    assert param_defaults(doc)["keyVaultGeneration"] == ""
    limit = next(d for d in doc["parameters"]["keyVaultGeneration"]["decorators"] if d["type"] == "max_length")
    name = vault_name_expression(MAIN.read_text())
    # empty: the name every deployment so far has had; otherwise a name derived from the value
    assert "empty(keyVaultGeneration) ? take(suffix, 6) : take(uniqueString(suffix, keyVaultGeneration), 6)" in name
    # kv- + appName (at most 8) + - + 4 + - + 6 = 23: within Key Vault's 24
    assert name.startswith("kv-${appName}-${take(environmentName, 4)}-")
    assert int(limit["argument"]) <= 8


def test_docs_say_how_to_redeploy_after_a_teardown() -> None:
    doc = (REPO_ROOT / "docs" / "azure.md").read_text()
    section = doc[doc.index("### Teardown and redeploy"):]
    section = section[:section.index("\n#")]
    for needed in ("purge protection", "az keyvault recover", "keyVaultGeneration", "az keyvault list-deleted"):
        assert needed in section, needed
