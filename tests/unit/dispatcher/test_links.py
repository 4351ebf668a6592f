"""Tracked links: the template's links, codes, user-agent families, minting and clicks in
Redis (both backends), and an import that gives each message its own short link."""

from __future__ import annotations

import asyncio
import io
import math
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from core import keys, outbox, sms
from core.errors import CampaignConflict, ConfigError, InputError
from core.outcomes import StreamPolicy
from dispatcher import links
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvout import SafeCsvWriter
from dispatcher.csvsource import CsvSource
from dispatcher.template import Template
from providers.ants import PROFILE as ANTS

BASE = "https://s.example.com"
SALE = "https://example.org/sale"
POLICY = StreamPolicy()


def test_link_placeholder_is_rendered_per_recipient_as_long_as_its_short_link() -> None:
    t = Template(f"Hi {{name}}: {{link:{SALE}}} now", ["phone", "name"], link_base=BASE)
    assert t.links == [SALE] and t.personalised
    text = t.render(["1", "Ann"])
    assert text == f"Hi Ann: {links.placeholder(BASE, 0)} now"
    assert len(links.placeholder(BASE, 0)) == len(links.short_url(BASE, "a" * links.CODE_CHARS))


def test_a_shared_text_with_a_link_becomes_personalised() -> None:
    t = Template(f"Sale {{link:{SALE}}}", ["phone"], link_base=BASE)
    assert t.personalised and t.shared_text == f"Sale {links.placeholder(BASE, 0)}"
    assert not Template("Sale today", ["phone"], link_base=BASE).personalised


def test_track_links_takes_every_url_of_the_text_but_not_its_sentence_end() -> None:
    text = "See https://example.org/a?b=1. Or (http://x.example/z), {name}"
    t = Template(text, ["phone", "name"], link_base=BASE, track_links=True)
    assert t.links == ["https://example.org/a?b=1", "http://x.example/z"]
    out = t.render(["1", "https://merged.example/not-tracked"])
    assert out.startswith(f"See {links.placeholder(BASE, 0)}. Or ({links.placeholder(BASE, 1)}),")
    assert out.endswith("https://merged.example/not-tracked")  # a merged field's URL stays
    assert Template(text, ["phone", "name"], link_base=BASE).links == []  # not asked: none


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{link:ftp://example.org/x}", "not an http\\(s\\) URL"),
        ("{link:https://}", "not an http\\(s\\) URL"),
        ("{link:https://exa mple.org}", "not an http\\(s\\) URL"),
        ("{link:https://example.org/" + "a" * 2100 + "}", "at most 2048"),
        (" ".join(f"{{link:https://e.org/{i}}}" for i in range(6)), "at most 5 links"),
    ],
)
def test_a_bad_link_is_an_error_naming_the_text(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why) as caught:
        Template(text, ["phone"], file="c.csv", link_base=BASE)
    assert caught.value.field == "text" and caught.value.file == "c.csv"


def test_a_campaign_that_tracks_links_needs_sms_link_base() -> None:
    with pytest.raises(ConfigError, match="SMS_LINK_BASE"):
        links.spec_for(f"Sale {{link:{SALE}}}", False, "", 60)
    with pytest.raises(ConfigError, match="SMS_LINK_BASE"):
        links.spec_for(f"Sale {SALE}", True, "", 60)
    assert links.spec_for(f"Sale {SALE}", False, "", 60) is None  # a URL, not tracked
    assert links.spec_for(f"Sale {SALE}", True, BASE, 60) == links.LinkSpec(BASE, 60, True)


def test_codes_are_base62_with_more_than_48_random_bits_per_link() -> None:
    assert links.REST_CHARS * math.log2(62) > 48
    drawn = {links.random_text(links.REST_CHARS) for _ in range(2000)}
    assert len(drawn) == 2000 and all(links.is_code("abcd" + d) for d in drawn)
    assert not links.is_code("abc") and not links.is_code("a" * 14)
    assert not links.is_code("abcd-efgh_ijk") and not links.is_code("ａbcdefghijklm")


@pytest.mark.parametrize(
    ("header", "family"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Safari/537.36",
            "Chrome",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Safari",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox"),
        ("Mozilla/5.0 ... Chrome/120.0 Safari/537.36 Edg/120.0", "Edge"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("WhatsApp/2.23.20.0 A", "bot"),
        ("curl/8.4.0", "bot"),
        ("", "other"),
        ("SomethingElse/1.0", "other"),
    ],
)
def test_agent_family(header: str, family: str) -> None:
    assert links.agent_family(header) == family


def test_the_tag_is_claimed_once_and_kept(store: redis.Redis) -> None:
    tag = links.claim_tag(store, "spring", 600)
    assert len(tag) == links.TAG_CHARS and not tag.isdigit()
    assert links.claim_tag(store, "spring", 600) == tag
    assert links.claim_tag(store, "autumn", 600) != tag  # another campaign, another tag
    assert store.hget(keys.link_tag(tag), "campaign") == b"spring"
    assert 0 < store.ttl(keys.link_tag(tag)) <= 600


def test_mint_gives_a_message_the_link_it_had(store: redis.Redis) -> None:
    tag = links.claim_tag(store, "spring", 600)
    first = links.mint(store, tag, "spring", [("spring-2", [SALE]), ("spring-3", [SALE])], 600)
    again = links.mint(store, tag, "spring", [("spring-3", [SALE]), ("spring-4", [SALE])], 600)
    assert again[0] == first[1] and again[1] not in (first[0], first[1])
    code = first[0][0]
    assert links.is_code(code) and code.startswith(tag)
    stored = store.hgetall(keys.link(tag, code[links.TAG_CHARS :]))
    assert stored == {b"t": SALE.encode(), b"c": b"spring", b"m": b"spring-2"}
    assert 0 < store.ttl(keys.link(tag, code[links.TAG_CHARS :])) <= 600


def test_mint_refuses_a_tag_of_another_campaign(store: redis.Redis) -> None:
    tag = links.claim_tag(store, "spring", 600)
    with pytest.raises(redis.ResponseError, match="LINKTAG"):
        links.mint(store, tag, "autumn", [("autumn-2", [SALE])], 600)


def _click(url: str, code: str, agent: str = "Chrome") -> str | None:
    async def go() -> str | None:
        client = aioredis.Redis.from_url(url)
        try:
            return await links.click(client, code, agent, POLICY)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_clicks_are_counted_per_link_message_campaign_and_minute(r: redis.Redis) -> None:
    url = r.connection_pool.connection_kwargs
    where = f"redis://{url.get('host', '127.0.0.1')}:{url.get('port', 6379)}/{url.get('db', 0)}"
    tag = links.claim_tag(r, "spring", 600)
    (one,), (two,) = links.mint(r, tag, "spring", [("spring-2", [SALE]), ("spring-3", [SALE])], 600)
    assert _click(where, one) == SALE and _click(where, one, "bot") == SALE
    assert _click(where, two) == SALE
    assert _click(where, tag + "000000000") is None  # unknown: nothing written
    link = r.hgetall(keys.link(tag, one[links.TAG_CHARS :]))
    assert link[b"n"] == b"2" and link[b"a"] == b"bot" and int(link[b"f"]) <= int(link[b"l"])
    status = links.summary(r, tag, sent=4)
    assert status == {
        "tracked": True,
        "total": 3,
        "messages": 2,
        "rate": 0.5,
        "agents": {"bot": 1, "Chrome": 2},
    }
    assert links.clicks_of(r, tag, ["spring-2", "spring-3", "spring-4"]) == [2, 1, 0]
    assert sum(n for _, n in links.minutes(r, "spring")) == 3
    events = [fields for _, fields in r.xrange(keys.OUTCOMES)]
    assert [e[b"first"] for e in events] == [b"1", b"0", b"1"]
    assert {e[b"state"] for e in events} == {b"clicked"} and events[0][b"messageId"] == b"spring-2"
    assert 0 < r.pttl(keys.link_minutes(tag)) <= 600_000


def test_a_click_on_a_cluster_goes_to_the_tags_outbox() -> None:
    code = "abcd" + "123456789"
    names = links.click_keys([code, "abcd" + "987654321"], StreamPolicy(outbox=True))
    assert names[3] == keys.link_outbox("abcd") and len(names) == 6
    assert {name.split("}")[0] for name in names} == {keys.link_tag("abcd").split("}")[0]}


def test_an_import_gives_each_message_its_own_link_and_a_rerun_the_same(
    store: redis.Redis,
) -> None:
    csv_text = "phone,name\n0812345601,Ann\n0812345602,Bob\n0812345603,Cat\n"
    spec = CampaignSpec(
        "spring",
        "Shop",
        f"Sale {{link:{SALE}}}",
        "TH",
        2,
        60,
        profile=ANTS,
        links=links.LinkSpec(BASE, 600),
    )

    def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        importer = Importer(store, sent.append, spec, SafeCsvWriter(io.StringIO()))
        importer.run(CsvSource(io.StringIO(csv_text), name="c.csv"))
        return sent

    sent = run()
    texts = [d[2] for batch in sent for d in batch["d"]]
    assert all(batch["t"] is None for batch in sent) and len(set(texts)) == 3
    assert all(t.startswith(f"Sale {BASE}/l/") and links.is_code(t[-13:]) for t in texts)
    assert sms.split(texts[0]).parts == sms.split(f"Sale {links.placeholder(BASE, 0)}").parts
    store.delete(keys.campaign_enqueued("spring"))  # as if the batches were never marked
    again = [d[2] for batch in run() for d in batch["d"]]
    assert again == texts  # the same codes: nothing new minted
    tag = links.tag_of(store, "spring")
    assert store.hlen(keys.link_ids(tag)) == 3


def test_clicks_on_a_cluster_reach_the_outcome_stream_through_the_relay(r: redis.Redis) -> None:
    url = r.connection_pool.connection_kwargs
    where = f"redis://{url.get('host', '127.0.0.1')}:{url.get('port', 6379)}/{url.get('db', 0)}"
    r.sadd(keys.CAMPAIGNS, "spring")
    tag = links.claim_tag(r, "spring", 600)
    ((code,),) = links.mint(r, tag, "spring", [("spring-2", [SALE])], 600)
    boxed = StreamPolicy(outbox=True)

    async def go() -> str | None:
        client = aioredis.Redis.from_url(where)
        try:
            return await links.click(client, code, "Safari", boxed)
        finally:
            await client.aclose()

    assert asyncio.run(go()) == SALE
    assert r.xlen(keys.OUTCOMES) == 0 and r.xlen(keys.link_outbox(tag)) == 1
    assert outbox.relay_all(r, boxed) == 1
    ((_, event),) = r.xrange(keys.OUTCOMES)
    assert event[b"state"] == b"clicked" and event[b"agent"] == b"Safari"
    assert r.xlen(keys.link_outbox(tag)) == 0


def test_a_reimport_that_would_track_other_urls_is_refused(store: redis.Redis) -> None:
    csv_text = "phone\n0812345601\n"
    text = f"Sale {SALE} {{link:{SALE}}}"

    def run(track_all: bool) -> None:
        spec = CampaignSpec(
            "spring", "Shop", text, "TH", 2, 60, links=links.LinkSpec(BASE, 600, track_all)
        )
        importer = Importer(store, lambda batch: None, spec, SafeCsvWriter(io.StringIO()))
        importer.run(CsvSource(io.StringIO(csv_text), name="c.csv"))

    run(False)
    with pytest.raises(CampaignConflict, match="track_links"):
        run(True)


def test_the_clicks_of_one_moment_go_in_one_call_per_tag(r: redis.Redis) -> None:
    url = r.connection_pool.connection_kwargs
    where = f"redis://{url.get('host', '127.0.0.1')}:{url.get('port', 6379)}/{url.get('db', 0)}"
    spring, autumn = links.claim_tag(r, "spring", 600), links.claim_tag(r, "autumn", 600)
    ((one,),) = links.mint(r, spring, "spring", [("spring-2", [SALE])], 600)
    ((other,),) = links.mint(r, autumn, "autumn", [("autumn-2", ["https://example.org/b"])], 600)
    wanted = [(one, "Chrome"), (spring + "000000000", "Chrome"), (other, "bot"), (one, "bot")]

    async def go() -> list[str | None]:
        client = aioredis.Redis.from_url(where)
        try:
            return await links.clicks(client, wanted, POLICY)
        finally:
            await client.aclose()

    assert asyncio.run(go()) == [SALE, None, "https://example.org/b", SALE]
    assert links.summary(r, spring, 1)["total"] == 2 and links.summary(r, autumn, 1)["total"] == 1
    assert r.hget(keys.link(spring, one[links.TAG_CHARS :]), "n") == b"2"
    assert links.clicks_of(r, spring, ["spring-2"]) == [2]
    assert r.hget(keys.link_tag(spring), "clicked") == b"1" and r.xlen(keys.OUTCOMES) == 3
