"""The worker never sends a batch without the message options it asks for: at a provider
that lacks one (a route failed over to it) every destination fails, OPTION_UNSUPPORTED,
and no request leaves; at one that has them the batch goes with them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from core import keys
from core.batch import OPTIONS_KEY, Batch
from core.gsm_national import Language
from core.limits.spec import Rate
from core.options import SendOptions
from tests.unit.workers.test_batch_sender import batch, harness, states
from tests.unit.workers.test_gate import gate_for, make_batch
from workers.send.gating import OPTION_UNSUPPORTED


def asking(options: SendOptions) -> Batch:
    return replace(batch(), meta={OPTIONS_KEY: options.to_meta()})


def test_a_provider_lacking_an_option_fails_the_batch_and_sends_nothing() -> None:
    sender, _, sent, client = harness({})
    sender.name = "smsmanager"
    asyncio.run(sender.process(asking(SendOptions(flash=True))))
    assert sent == []
    assert asyncio.run(states(client)) == {0: "failed", 1: "failed", 2: "failed"}
    entries = asyncio.run(client.xrange(keys.OUTCOMES))
    reasons = {f[b"reason"] for _, f in entries}
    assert reasons == {b"gateway smsmanager does not take flash SMS"}
    assert {f[b"statusId"] for _, f in entries} == {OPTION_UNSUPPORTED.encode()}


def test_a_provider_with_the_options_sends_them() -> None:
    sender, _, sent, client = harness({})
    sender.name = "ants"
    options = SendOptions(flash=True, language=Language("TR", single_shift=True))
    asyncio.run(sender.process(asking(options)))
    assert [SendOptions.from_meta(b.meta[OPTIONS_KEY]) for b in sent] == [options]
    assert asyncio.run(states(client)) == {0: "accepted", 1: "accepted", 2: "accepted"}


def test_a_batch_without_options_goes_anywhere() -> None:
    sender, _, sent, _ = harness({})
    sender.name = "smsmanager"
    asyncio.run(sender.process(batch()))
    assert len(sent) == 1


def test_a_national_language_costs_its_parts_in_the_limits() -> None:
    """156 letters: one part by the default tables, two of 149 with a shift element."""
    text = "a" * 156
    gate, _ = gate_for(rate=Rate(10, 1000), burst=9, transactional_share=0)
    admitted, held = asyncio.run(gate(make_batch(6, text=text)))
    assert (len(admitted), len(held)) == (6, 0)
    gate, _ = gate_for(rate=Rate(10, 1000), burst=9, transactional_share=0)
    b = make_batch(6, text=text)
    turkish = SendOptions(language=Language("TR", single_shift=True))
    b = b.only(list(b.destinations), meta={OPTIONS_KEY: turkish.to_meta()})
    admitted, held = asyncio.run(gate(b))
    assert (len(admitted), len(held)) == (5, 1)  # 10 parts of the 10 a fresh bucket admits
