"""Asyncio Redis clients whose connection pool waits for a free connection instead of failing.

redis-py's default asyncio `ConnectionPool` raises `MaxConnectionsError` (a
`ConnectionError`) as soon as every one of its `max_connections` (100 by default)
connections is in use.  Under a burst (thousands of webhook requests at once, many
worker threads) that turned half of a 5,000-report burst into 503s.  A
`BlockingConnectionPool` makes the caller wait, up to `wait_timeout` seconds, for a
connection another caller gives back; only then does it raise `ConnectionError`
("No connection available."), which is a `RedisError` like any other outage.

Use it for every long-lived asyncio client (webhook, workers):

    from core.redis_pool import async_redis, warm_up

    client = async_redis(settings.redis_url)                   # the defaults below
    client = async_redis(url, max_connections=16, wait_timeout=5)
    await warm_up(client)                                      # optional, see below
    ...
    await client.aclose()                                      # closes its pool too

Connections are opened on demand.  A server that takes bursts of incoming
connections should `warm_up` its pool at start: when a burst has used every file
descriptor of the process, a connection that is not open yet cannot be opened
(EMFILE), and every request would fail until the burst is over.

Sizing: `max_connections` bounds the connections one process opens to Redis (Redis'
own `maxclients` is 10,000 by default, shared by every process); `wait_timeout` should
be longer than a caller is ever expected to wait in a burst, and shorter than whatever
deadline the caller itself answers to.  The pool is bound to the event loop that
first uses it: build one client per loop (per process, per thread running a loop).
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.cluster

MAX_CONNECTIONS = 64  # connections one client (one process) opens to Redis, at most
WAIT_TIMEOUT_S = 30.0  # how long a command waits for a free connection before it fails
SOCKET_TIMEOUT_S = 10.0  # one command's reply (a record.lua call takes milliseconds)
SOCKET_CONNECT_TIMEOUT_S = 5.0  # opening a new connection
HEALTH_CHECK_INTERVAL_S = 30  # PING a connection idle this long before reusing it


def async_redis(
    url: str,
    *,
    max_connections: int = MAX_CONNECTIONS,
    wait_timeout: float | None = WAIT_TIMEOUT_S,
    socket_timeout: float | None = SOCKET_TIMEOUT_S,
    socket_connect_timeout: float | None = SOCKET_CONNECT_TIMEOUT_S,
    health_check_interval: int = HEALTH_CHECK_INTERVAL_S,
    cluster: bool = False,
    **connection_kwargs: Any,
) -> aioredis.Redis:
    """A `redis.asyncio.Redis` on its own `BlockingConnectionPool` built from `url`.

    `url` is any redis-py URL (`redis://`, `rediss://`, `unix://`); options in its
    query string win over these arguments, as in `Redis.from_url`.  `wait_timeout`
    None waits forever (not recommended: a stuck Redis then stalls callers instead
    of failing them).  Other keyword arguments (`decode_responses`, `client_name`,
    `retry`, ...) go to each connection.  Closing the client closes the pool.
    """
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    if cluster:  # a client per node, each opening connections as needed (no cap to wait on)
        return aiocluster.RedisCluster.from_url(  # type: ignore[return-value]  # same command API
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            health_check_interval=health_check_interval,
            **_counted(connection_kwargs),
        )
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        health_check_interval=health_check_interval,
        **connection_kwargs,
    )
    return aioredis.Redis.from_pool(pool)


async def warm_up(client: aioredis.Redis, connections: int | None = None) -> int:
    """Open `connections` of the client's pool now (default: all of them); how many opened.

    Each is connected (and authenticated, and its db selected) and given back to the
    pool, ready for the first burst.  A cluster client opens its nodes' connections as
    it goes: none here (0).  Raises what connecting raises (a RedisError,
    or an OSError), leaving the connections opened so far in the pool.
    """
    if isinstance(client, aiocluster.RedisCluster):
        return 0
    pool = client.connection_pool
    wanted = pool.max_connections if connections is None else connections
    held = []
    try:
        for _ in range(min(wanted, pool.max_connections)):
            held.append(await pool.get_connection())
    finally:
        for connection in held:
            await pool.release(connection)
    return len(held)


def sync_redis(url: str, *, cluster: bool = False, **kwargs: Any) -> Any:
    """A synchronous client of `url`: a Redis Cluster's (SMS_REDIS_CLUSTER) or one server's."""
    if cluster:
        return redis.cluster.RedisCluster.from_url(url, **_counted(kwargs))
    return redis.Redis.from_url(url, **kwargs)


CLUSTER_OUTAGE_RETRIES = 10  # a cluster client's attempts at a command (it refreshes the slots)


def _counted(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A cluster client runs a command `retries` times: a retry of -1 ("until it answers")
    would run it no time at all and answer None.  Give it a count instead: on a cluster a
    longer outage fails the call (a batch then comes back through its queue's retry);
    riding out a Redis restart is measured on one Redis only."""
    retry = kwargs.get("retry")
    if retry is not None and retry.get_retries() < 0:
        retry.update_retries(CLUSTER_OUTAGE_RETRIES)
    return kwargs
