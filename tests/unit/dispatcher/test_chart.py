"""The campaign page's chart series (dispatcher.http.chart), written by the board's tick:
a point a second for the last hour, the last point of each minute before; written while
nobody watches too (dispatcher.http.board.Board.follow)."""

from __future__ import annotations

import pytest
import redis

from core import keys
from dispatcher.http import board, chart

NOW = 1_800_000_000  # epoch seconds, a whole minute


def test_seconds_for_the_last_hour_and_minutes_before(fake: redis.Redis) -> None:
    start = NOW - 2 * 3600
    for second in range(start, NOW + 1, 10):  # every 10 s for two hours, sent grows by 10
        sent = second - start
        chart.record(fake, second, [chart.Point("c", sent, sent // 2)], ttl_s=3600)
    points = chart.read(fake, "c")
    cutoff = NOW - chart.FINE_KEEP_S
    coarse = [p for p in points if p[0] < cutoff]
    fine = [p for p in points if p[0] >= cutoff]
    assert [p[0] for p in fine] == list(range(cutoff, NOW + 1, 10))
    assert [p[0] % 60 for p in coarse] == [50] * len(coarse)  # each minute's last point
    assert len(coarse) == 60 and coarse[0][0] == start + 50
    assert all(p[1] == p[0] - start and p[2] == p[1] // 2 for p in points)
    assert chart.read(fake, "c", since=NOW - 20) == [[NOW - 10, 7190, 3595], [NOW, 7200, 3600]]
    assert 0 < fake.ttl(chart.series("c", chart.FINE_S)) <= 3600


def test_a_second_written_again_replaces_its_point(fake: redis.Redis) -> None:
    chart.record(fake, NOW, [chart.Point("c", 5, 1)], ttl_s=60)
    chart.record(fake, NOW, [chart.Point("c", 7, 2)], ttl_s=60)  # another API process, later
    assert chart.read(fake, "c") == [[NOW, 7, 2]]


def campaign(client: redis.Redis, name: str, counts: dict[str, int]) -> None:
    client.sadd(keys.CAMPAIGNS, name)
    client.hset(keys.campaign_meta(name), mapping={"created": 1, "imported": 1, "messages": 10})
    client.delete(keys.campaign_counts(name))
    client.hset(keys.campaign_counts(name), mapping=counts)


def test_the_board_charts_campaigns_in_motion_while_nobody_watches(
    fake: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = {"now": float(NOW)}
    monkeypatch.setattr(board.time, "time", lambda: clock["now"])
    monkeypatch.setattr(board.time, "monotonic", lambda: clock["now"])
    campaign(fake, "moving", {"queued": 10})
    campaign(fake, "finished", {"delivered": 10})
    watched = board.Board(fake, ttl_s=3600)
    watched.read()  # a full read: each campaign's status
    for counts in ({"queued": 6, "accepted": 4}, {"accepted": 5, "delivered": 5}):
        clock["now"] += 1
        campaign(fake, "moving", counts)
        watched.follow()  # nobody watches: counts only, of the campaigns in motion
    assert chart.read(fake, "moving") == [[NOW, 0, 0], [NOW + 1, 4, 0], [NOW + 2, 10, 5]]
    assert chart.read(fake, "finished") == []  # done before the board first saw it
    assert watched.read()["campaigns"][0]["state"] == "done"
