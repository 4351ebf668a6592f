"""Every provider's send contract through one harness (tests/unit/contracts)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

from providers import registry
from tests.unit.providers import contracts
from tests.unit.providers.contracts import harness


def modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(contracts.__path__) if m.name != "harness"]
    return [importlib.import_module(f"tests.unit.providers.contracts.{n}") for n in sorted(names)]


CASES = [(m, case) for m in modules() for case in m.CASES]


@pytest.mark.parametrize(
    ("module", "case"), CASES, ids=[f"{m.PROVIDER}: {c.name}" for m, c in CASES]
)
def test_contract(module: ModuleType, case: harness.Case) -> None:
    harness.run(module.PROVIDER, module.settings, case)


def test_every_registered_provider_has_contracts() -> None:
    assert sorted(m.PROVIDER for m in modules()) == registry.names()
