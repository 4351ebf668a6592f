"""Declarative send contracts, one module per provider (courier's OutgoingTestCase).

Each module defines `PROVIDER` (its registry name), `settings(base_url)` (Settings that
point the provider at the harness's server) and `CASES`, a list of `harness.Case`: the
batch, the canned answers of the gateway, the exact requests expected, and the
verdicts expected (or the error).  `tests/unit/test_provider_contracts.py` runs every
case of every module through the same harness.
"""
