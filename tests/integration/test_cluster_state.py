"""Campaign state on a Redis Cluster: a real 3-master cluster (`dispatcher.stack`, as in
test_cluster_limits.py).

Every key of a campaign carries its id as a hash tag, and each script touches one
campaign's keys only, so the import (dedupe, enqueue-once), the send claims, the
state writes (with the campaign's outbox for its events), delivery reports, the
sweep and the export all run on the node that owns the campaign, and campaigns
spread over the nodes.  The outbox relay moves the events into the one outcome
stream.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio.cluster as async_cluster
from redis.cluster import ClusterNode, RedisCluster

from core import keys, ledger, outbox
from core.batch import Destination
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvsource import CsvSource
from dispatcher.reports import export, ingest
from dispatcher.reports.sweep import sweep
from dispatcher.stack import RedisClusterServers
from providers.reports import DeliveryReport
from workers.claims import Mode, Via, claims

P = StreamPolicy(maxlen=100_000, final_ttl=3600, outbox=True)
CAMPAIGNS = [f"spring{i}" for i in range(6)]
ROWS = 150


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(Path(tmp_path_factory.mktemp("cluster"))).start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def rc(cluster: RedisClusterServers) -> Iterator[RedisCluster]:
    client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster.nodes])
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.close()


def import_campaign(rc: RedisCluster, campaign: str) -> list[dict[str, Any]]:
    """ROWS rows, every tenth number a duplicate of the row before; returns the batches."""
    lines = ["phone,name"]
    for i in range(ROWS):
        n = i - 1 if i % 10 == 9 else i
        lines.append(f"0812{n:06d},n{i}")
    source = CsvSource(io.StringIO("\n".join(lines) + "\n"), name=f"{campaign}.csv")
    sent: list[dict[str, Any]] = []
    spec = CampaignSpec(campaign, "Shop", "Hi {name}", "TH", 50, 60)
    report = Importer(rc, sent.append, spec).run(source)
    assert (report.valid, report.duplicates) == (ROWS - ROWS // 10, ROWS // 10)
    return sent


def test_campaigns_import_on_their_own_nodes_and_rerun_idempotently(rc: RedisCluster) -> None:
    for c in CAMPAIGNS:
        batches = import_campaign(rc, c)
        assert sum(len(b["d"]) for b in batches) == ROWS - ROWS // 10
        assert import_campaign(rc, c) == []  # a re-run: every batch enqueued already
    nodes = {rc.get_node_from_key(keys.campaign_meta(c)).name for c in CAMPAIGNS}
    assert len(nodes) >= 2
    for c in CAMPAIGNS:  # one slot per campaign, whatever the key
        tagged = [keys.campaign_meta(c), keys.ledger(c, "0"), keys.outbox(c),
                  keys.campaign_numbers(c, 0), keys.campaign_open(c)]  # fmt: skip
        assert len({rc.keyslot(k) for k in tagged}) == 1


def test_claims_states_reports_sweep_export_and_relay(
    rc: RedisCluster, cluster: RedisClusterServers
) -> None:
    now = int(time.time() * 1000)
    for c in CAMPAIGNS:
        rc.sadd(keys.CAMPAIGNS, c)
        rc.hset(keys.campaign_meta(c), "last_line", 101)  # as an import of lines 2-101 sets
        dests = [Destination(f"{c}-{line}", f"66812{line:06d}") for line in range(2, 102)]
        via = Via("ants", f"{c}-b0", now + 3_600_000)
        first = asyncio.run(_claim(cluster, "run-a", c, via, dests))
        assert first.ours == dests
        accepted = [Event(d.message_id, c, State.ACCEPTED, f"{c}-b0", d.to, 1, "1", "26",
                          expires_at=now - 10**7, release="run-a", provider="ants")
                    for d in dests]  # fmt: skip
        assert record(rc, accepted, P) == len(dests)
        again = asyncio.run(_claim(cluster, "run-b", c, via, dests))
        assert again.sent == dests  # never sent twice
        reports = [DeliveryReport(d.message_id, "delivered", True) for d in dests[:60]]
        assert ingest.apply_sync(rc, reports, P) == 60
    assert sweep(rc, P, 0) == 40 * len(CAMPAIGNS)  # the 40 with no report, each campaign
    for c in CAMPAIGNS:
        assert rc.zcard(keys.campaign_open(c)) == 0
        out = io.StringIO()
        assert export.export(rc, c, out) == 100
        assert ledger.state(rc, f"{c}-2") == "delivered"
        assert ledger.state(rc, f"{c}-101") == "expired"
    moved = outbox.relay_all(rc, P)
    assert moved == 200 * len(CAMPAIGNS)  # accepted, then delivered or expired
    assert all(rc.xlen(keys.outbox(c)) == 0 for c in CAMPAIGNS)
    entries = rc.xrange(keys.OUTCOMES)
    assert len(entries) == moved
    first_of = {}
    for i, (_, f) in enumerate(entries):
        first_of.setdefault(f[b"messageId"], (i, f[b"state"]))
    assert {state for _, state in first_of.values()} == {b"accepted"}  # order kept


async def _claim(
    cluster: RedisClusterServers, token: str, campaign: str, via: Via, dests: list[Destination]
) -> Any:
    nodes = [async_cluster.ClusterNode(h, p) for h, p in cluster.nodes]
    client = async_cluster.RedisCluster(startup_nodes=nodes)
    try:
        return await claims(client, Mode.START, token, 10_000, campaign, via, dests)
    finally:
        await client.aclose()
