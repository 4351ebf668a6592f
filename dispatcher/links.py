"""Tracked links: a short link per recipient, its redirect and its clicks.

A campaign text's `{link:https://…}` (or, with `track_links`, every http(s) URL in it)
becomes, for each message, `SMS_LINK_BASE/l/{code}`: `smsdispatch api` answers it with
a 302 to the target and records the click (`click.lua`).

A code is CODE_CHARS base62 characters drawn with `secrets`: the campaign's tag
(TAG_CHARS, random, claimed once per campaign: `claim_tag`) and the link's own rest
(REST_CHARS: 62**9, about 2**53.6, per link).  Every key of a tag's links carries the
tag as its hash tag (core.keys `link_*`), so the redirect's one script call (the link,
the campaign's click counters, its clicks by minute, the outcome stream or the tag's
outbox) touches one Redis Cluster slot, and so does minting a batch's links.

Re-runs mint nothing new: `mint` keeps "{messageId}#{n}" -> rest in the tag's ids hash
(messageId is the import's idempotency key) and gives a message its link from before.

Counters, one source of truth: the tag's hash (`clicks`, `clicked` messages,
`ua:{family}`), its clicks by minute, and each message's clicks (the export's column).
Everything expires with SMS_LINK_TTL.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from redis.exceptions import NoScriptError

from core import clock, keys, lua, replies
from core.errors import ConfigError, DispatchError, InputError
from core.outcomes import StreamPolicy

ALPHABET = string.digits + string.ascii_letters  # base62
TAG_CHARS = 4  # a campaign's tag: 62**4, about 14.8 million
REST_CHARS = 9  # a link's own: 62**9, about 2**53.6
CODE_CHARS = TAG_CHARS + REST_CHARS
PATH = "/l/"
MAX_LINKS = 5  # links in one text
MAX_TARGET_CHARS = 2048
LINK_FIELD = "link:"  # {link:https://...}
TAG_FIELD = keys.LINK_TAG_FIELD  # the campaign meta's field naming its tag
MINT_TRIES = 5  # draws for a link whose fresh code was taken (about 2**-53.6 each)
CODE_RE = re.compile(f"[0-9A-Za-z]{{{CODE_CHARS}}}")
URL_RE = re.compile(r"https?://[^\s<>\"{}|\\^`]+", re.IGNORECASE)
URL_TAIL = ".,;:!?)]'\""  # punctuation after a URL in a sentence is not part of it
BASE_VARIABLE = "SMS_LINK_BASE"
URL_SAFE = "".join(chr(c) for c in range(33, 127))  # printable ASCII stays as written

# user-agent families, first match wins: (family, markers in the lower-cased header)
BOT_MARKERS: tuple[str, ...] = (
    "bot",
    "crawl",
    "spider",
    "slurp",
    "preview",
    "facebookexternalhit",
    "whatsapp",
    "telegram",
    "skype",
    "curl/",
    "wget/",
    "python",
    "aiohttp",
    "go-http",
    "okhttp",
    "java/",
    "headless",
    "monitor",
)
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bot", BOT_MARKERS),
    ("Edge", ("edg/", "edga/", "edgios/")),
    ("Opera", ("opr/", "opera")),
    ("Samsung", ("samsungbrowser/",)),
    ("Firefox", ("firefox/", "fxios/")),
    ("Chrome", ("chrome/", "crios/", "chromium/")),
    ("Safari", ("safari/",)),
)
OTHER = "other"
AGENTS_KEPT = 2048  # user-agent headers whose family is remembered (at most 512 chars each)
AGENTS = (*(family for family, _ in FAMILIES), OTHER)


@dataclass(frozen=True)
class LinkSpec:
    """How a campaign's links are made: `base` (SMS_LINK_BASE), `ttl` (SMS_LINK_TTL, s) and
    `track_all` (every http(s) URL of the text, not only its {link:...})."""

    base: str
    ttl: int
    track_all: bool = False


def wanted(text: str, track_all: bool) -> bool:
    """Whether a text tracks links: it holds {link:...}, or track_all and it holds a URL."""
    return "{" + LINK_FIELD in text.lower() or (track_all and URL_RE.search(text) is not None)


def spec_for(text: str, track_all: bool, base: str, ttl: int) -> LinkSpec | None:
    """The campaign's LinkSpec, None when its text tracks nothing; ConfigError naming
    SMS_LINK_BASE when it does and no base is set."""
    if not wanted(text, track_all):
        return None
    if not base:
        raise ConfigError(
            BASE_VARIABLE,
            "not set, but the campaign tracks links: set it to the public origin "
            "that reaches `smsdispatch api` (e.g. https://s.example.com)",
        )
    return LinkSpec(base, ttl, track_all)


def check_target(url: str, *, file: str = "") -> str:
    """A link's target: an absolute http(s) URL with a host, at most MAX_TARGET_CHARS."""
    url = url.strip()
    if len(url) > MAX_TARGET_CHARS:
        why = f"a link is at most {MAX_TARGET_CHARS} characters"
        raise InputError(why, file=file, line=1, field="text")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    bad = any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    if bad or parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        why = f"{{link:{url}}} is not an http(s) URL with a host"
        raise InputError(why, file=file, line=1, field="text")
    return quote(url, safe=URL_SAFE)  # a Location header is ASCII: the rest percent-encoded


def urls(text: str) -> Iterator[tuple[int, int]]:
    """Where the http(s) URLs of a text are (start, end), sentence punctuation left out."""
    for match in URL_RE.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in URL_TAIL:
            end -= 1
        yield match.start(), end


def random_text(chars: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(chars))


def short_url(base: str, code: str) -> str:
    return f"{base}{PATH}{code}"


def placeholder(base: str, index: int) -> str:
    """What a text holds for its link `index` until the link is minted: as long as a short
    link and of the same characters (parts are counted with it), all digits (never a tag)."""
    return short_url(base, f"{index:0{CODE_CHARS}d}")


def fill(text: str, base: str, codes: Sequence[str]) -> str:
    """The text with its placeholders replaced by the short links of `codes`, in order."""
    for index, code in enumerate(codes):
        text = text.replace(placeholder(base, index), short_url(base, code), 1)
    return text


def is_code(code: str) -> bool:
    """A code's shape (checked before Redis is asked)."""
    return len(code) == CODE_CHARS and CODE_RE.fullmatch(code) is not None


def agent_family(header: str) -> str:
    """A User-Agent header's family: bot, Edge, Opera, Samsung, Firefox, Chrome, Safari,
    or other (its first 512 characters decide; the answers of the last AGENTS_KEPT headers
    seen are kept: a campaign's clicks come from a few browsers' headers)."""
    return _family(header[:512])


@functools.lru_cache(maxsize=AGENTS_KEPT)
def _family(header: str) -> str:
    lowered = header.lower()
    for family, markers in FAMILIES:
        if any(marker in lowered for marker in markers):
            return family
    return OTHER


# -- Redis ---------------------------------------------------------------------------------


def tag_of(client: Any, campaign: str) -> str:
    """The campaign's tag, "" when it tracks no links."""
    return replies.text(client.hget(keys.campaign_meta(campaign), TAG_FIELD) or b"")


def claim_tag(client: Any, campaign: str, ttl: int) -> str:
    """The campaign's tag: the one its meta names (claimed again if it expired), else a
    fresh one, claimed (HSETNX of its owner) and then named in the meta (HSETNX: two
    imports at once agree on the first)."""
    meta = keys.campaign_meta(campaign)
    named = tag_of(client, campaign)
    if named and _own(client, named, campaign, ttl):
        return named
    while True:
        fresh = random_text(TAG_CHARS)
        if fresh.isdigit() or not _own(client, fresh, campaign, ttl):
            continue  # taken, or all digits (it could read as a placeholder)
        if named:  # its tag expired with its links and another campaign took it since
            client.hset(meta, TAG_FIELD, fresh)
            return fresh
        if client.hsetnx(meta, TAG_FIELD, fresh):
            return fresh
        client.delete(keys.link_tag(fresh))  # another import named one first: take it
        return claim_tag(client, campaign, ttl)


def _own(client: Any, tag: str, campaign: str, ttl: int) -> bool:
    owner = keys.link_tag(tag)
    if client.hsetnx(owner, "campaign", campaign):
        client.expire(owner, ttl)
        return True
    return replies.text(client.hget(owner, "campaign") or b"") == campaign


def mint(
    client: Any,
    tag: str,
    campaign: str,
    messages: Sequence[tuple[str, Sequence[str]]],
    ttl: int,
) -> list[list[str]]:
    """The codes of each message's links, (messageId, targets) in, one list per message:
    the links minted before for a messageId, else new ones (the one wrapper of mint.lua)."""
    fields = [
        (f"{mid}#{n}", target, mid) for mid, targets in messages for n, target in enumerate(targets)
    ]
    rests = [""] * len(fields)
    script = lua.script(client, "mint", "dispatcher")
    for _ in range(MINT_TRIES):
        todo = [i for i, rest in enumerate(rests) if not rest]
        if not todo:
            break
        fresh = {i: random_text(REST_CHARS) for i in todo}
        items = [[fields[i][0], fresh[i], fields[i][1], fields[i][2]] for i in todo]
        link_keys = [keys.link(tag, fresh[i]) for i in todo]
        got = script(
            keys=[keys.link_ids(tag), keys.link_tag(tag), *link_keys],
            args=[ttl, campaign, orjson.dumps(items)],
        )
        for i, rest in zip(todo, got, strict=True):
            rests[i] = replies.text(rest)
    if not all(rests):
        raise DispatchError(f"no free link code in {MINT_TRIES} draws: is the tag's keyspace full?")
    out: list[list[str]] = []
    at = 0
    for _, targets in messages:
        out.append([tag + rest for rest in rests[at : at + len(targets)]])
        at += len(targets)
    return out


def click_keys(codes: Sequence[str], policy: StreamPolicy) -> list[str]:
    """The keys of clicks on `codes`, well-formed ones (`is_code`) of one tag: the tag's
    counters, the stream (or the tag's outbox), then each code's link."""
    tag = codes[0][:TAG_CHARS]
    stream = keys.link_outbox(tag) if policy.outbox else keys.OUTCOMES
    return [
        keys.link_tag(tag),
        keys.link_clicks_by_message(tag),
        keys.link_minutes(tag),
        stream,
        *(keys.link(tag, code[TAG_CHARS:]) for code in codes),
    ]


async def clicks(
    client: Any, wanted: Sequence[tuple[str, str]], policy: StreamPolicy
) -> list[str | None]:
    """Record clicks, (code, user-agent family) each, with an asyncio client: one click.lua
    call per tag among them, all in one pipeline (the redirect sends the clicks of one
    moment together); each click's target, None for no such link (the one wrapper of
    click.lua)."""
    script = lua.script(client, "click", "dispatcher")
    maxlen, now = 0 if policy.outbox else policy.maxlen, clock.now_ms()
    by_tag: dict[str, list[int]] = {}
    for i, (code, _) in enumerate(wanted):
        by_tag.setdefault(code[:TAG_CHARS], []).append(i)
    got: list[Any] = [None] * len(wanted)
    todo = list(by_tag.values())
    for _ in range(2):  # the calls refused NOSCRIPT (a Redis restarted, or flushed) once more
        pipe = client.pipeline(transaction=False)
        for group in todo:
            names = click_keys([wanted[i][0] for i in group], policy)
            pipe.evalsha(
                script.sha, len(names), *names, now, maxlen, *(wanted[i][1] for i in group)
            )
        answers = await pipe.execute(raise_on_error=False)
        refused = []
        for group, answer in zip(todo, answers, strict=True):
            if isinstance(answer, NoScriptError):
                refused.append(group)
            elif isinstance(answer, Exception):
                raise answer
            else:
                for i, target in zip(group, answer, strict=True):
                    got[i] = replies.text(target) if target else None
        todo = refused
        if not todo:
            break
        await client.script_load(script.script)
    if todo:
        raise NoScriptError("click.lua is not loaded on every node")
    return got


async def target(client: Any, code: str) -> str | None:
    """A link's target without a click (asyncio client; a well-formed code: `is_code`)."""
    found = await client.hget(keys.link(code[:TAG_CHARS], code[TAG_CHARS:]), "t")
    return replies.text(found) if found else None


async def click(client: Any, code: str, agent: str, policy: StreamPolicy) -> str | None:
    """One click (`clicks`): its target, None for no such link."""
    return (await clicks(client, [(code, agent)], policy))[0]


def summary(client: Any, tag: str, sent: int) -> dict[str, Any]:
    """A campaign's clicks for its status, from its tag (`tag_of`; "": it tracks no links):
    total clicks, messages clicked (unique), the click-through rate (clicked messages /
    messages sent: the gateway took them) and clicks by user-agent family."""
    raw = client.hgetall(keys.link_tag(tag)) if tag else {}
    counts = {replies.text(k): replies.text(v) for k, v in raw.items()}
    total, clicked = int(counts.get("clicks", 0)), int(counts.get("clicked", 0))
    agents = {a: int(counts[f"ua:{a}"]) for a in AGENTS if f"ua:{a}" in counts}
    return {
        "tracked": bool(tag),
        "total": total,
        "messages": clicked,
        "rate": round(clicked / sent, 4) if sent else 0.0,
        "agents": agents,
    }


def clicks_of(client: Any, tag: str, message_ids: Sequence[str]) -> list[int]:
    """Each message's clicks, from its campaign's tag (`tag_of`; "": no links, all 0)."""
    if not tag or not message_ids:
        return [0] * len(message_ids)
    got = client.hmget(keys.link_clicks_by_message(tag), list(message_ids))
    return [int(n) if n else 0 for n in got]


def minutes(client: Any, campaign: str) -> list[tuple[int, int]]:
    """Clicks by minute, (epoch s of the minute, clicks), oldest first."""
    tag = tag_of(client, campaign)
    if not tag:
        return []
    raw = client.hgetall(keys.link_minutes(tag))
    return sorted((int(k) * 60, int(v)) for k, v in raw.items())
