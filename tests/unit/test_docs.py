"""README.md stays short and the docs stay whole (issue 22, item 6).

README.md is the front page (at most 300 lines); the manual is docs/*.md.  These tests
fail when README.md passes 300 lines, when a relative link in README.md or docs/ points to
a file (or a heading) that does not exist, or when a path in README's "Where things are"
table does not exist.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_LINES = 300

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (a link there is not a link)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links(text: str) -> list[str]:
    return LINK.findall(prose(text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)


def where_things_are(text: str) -> list[str]:
    """The paths in the first column of README's "Where things are" table.

    A bare name (no slash but a folder's closing one) sits in the folder of the path before
    it in its cell, as the table is written (`core/batch.py`, `ids.py`): the folder a file
    is in, or the folder itself (`dispatcher/http/`, `static/`).  `{a,b}` stands for each
    of a and b.
    """
    section = re.search(r"^## Where things are\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Where things are' section"
    paths: list[str] = []
    for line in section.group(1).splitlines():
        cells = line.split("|")
        if not line.startswith("|") or len(cells) < 3 or set(cells[1].strip()) <= set("- "):
            continue
        folder = ""
        for name in re.findall(r"`([^`]+)`", cells[1]):
            if name == "folder / module":
                continue
            path = name if "/" in name.rstrip("/") else folder + name
            folder = path[: path.rfind("/") + 1]  # a folder's own path ends with "/"
            paths.extend(expand(path))
    return paths


def expand(path: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    heads = [path[: match.start()] + part + path[match.end() :] for part in match[1].split(",")]
    return list(itertools.chain.from_iterable(expand(head) for head in heads))


def test_readme_is_at_most_300_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move the detail to docs/"
    )


def test_docs_has_an_index_and_pages() -> None:
    assert (ROOT / "docs" / "README.md").is_file()
    assert len(pages()) > 3


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_that_exist(page: Path) -> None:
    missing = []
    for target in filter(relative, links(page.read_text(encoding="utf-8"))):
        file, _, anchor = target.partition("#")
        goal = (page.parent / file).resolve() if file else page
        if not goal.exists():
            missing.append(f"{target}: no such file")
        elif anchor and goal.suffix == ".md" and anchor not in anchors(goal):
            missing.append(f"{target}: no such heading in {goal.relative_to(ROOT)}")
    assert not missing, f"{page.relative_to(ROOT)}: " + "; ".join(missing)


def test_where_things_are_names_only_paths_that_exist() -> None:
    paths = where_things_are(README.read_text(encoding="utf-8"))
    assert len(paths) > 30, paths
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f"README's 'Where things are' names what does not exist: {missing}"


def test_the_checks_read_markdown_as_github_does() -> None:
    assert links("see [a](docs/a.md) and `[b](b.md)`\n```\n[c](c.md)\n```\n![d](d.png)") == [
        "docs/a.md",
        "d.png",
    ]
    assert not relative("https://example.com/x.md") and relative("docs/x.md#top")
    assert slug("Know before you send: `plan`, opt-outs and `--gsm-safe`") == (
        "know-before-you-send-plan-opt-outs-and---gsm-safe"
    )
    assert slug("Exactly once, without the gateway's help") == (
        "exactly-once-without-the-gateways-help"
    )
    table = (
        "## Where things are\n\n| folder / module | what |\n| --- | --- |\n"
        "| `core/batch.py`, `ids.py`, `dispatcher/http/`, `static/` | x |\n"
        "| `SECURITY.md`, `config/settings.py`, `prices.csv`, `providers/{ants,smsc}/` | y |\n"
        "\n## Next\n| `not/this.py` | z |\n"
    )
    assert where_things_are(table) == [
        "core/batch.py",
        "core/ids.py",
        "dispatcher/http/",
        "dispatcher/http/static/",
        "SECURITY.md",
        "config/settings.py",
        "config/prices.csv",
        "providers/ants/",
        "providers/smsc/",
    ]
