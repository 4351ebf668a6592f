"""The sandbox is an oracle: it must not share code with what it judges.

(a) No module of `sandbox/` imports `core`, `config`, `dispatcher`, `workers` or `providers`, in any
    form (`import x`, `from x import y`, relative imports reaching outside the
    package, `importlib.import_module("x")`), and importing the sandbox loads none
    of them.
(b) Its SMS part counting matches vectors worked out by hand from GSM 03.38
    (3GPP TS 23.038) and the SMS concatenation rules, not from any implementation.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import parts
from sandbox.parts import GSM7, MAX_BYTES, MAX_PARTS, UCS2, count_parts, split, too_long
from tests.sandbox.sandbox_kit import run, sandbox

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "sandbox"
FORBIDDEN = ("core", "config", "dispatcher", "workers", "providers")


def _forbidden(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in FORBIDDEN)


def imported_names(path: Path, root: Path = ROOT) -> list[str]:
    """Every module name the file imports, relative imports resolved to absolute ones."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # level 1 is the file's own package, each further level one package up
            up = node.level - 1
            prefix = ".".join(package[: max(0, len(package) - up)]) if node.level else ""
            module = ".".join(p for p in (prefix, node.module or "") if p)
            names.append(module)
            # `from . import x` / `from .. import dispatcher` import modules by name too
            names.extend(".".join(p for p in (module, a.name) if p) for a in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.append(first.value)
    return names


def sandbox_files() -> list[Path]:
    return sorted(SANDBOX.rglob("*.py"))


def test_sandbox_files_are_found() -> None:
    names = {p.name for p in sandbox_files()}
    assert {"app.py", "submission.py", "parts.py", "state.py"} <= names


@pytest.mark.parametrize("path", sandbox_files(), ids=lambda p: p.name)
def test_no_sandbox_module_imports_the_code_under_test(path: Path) -> None:
    bad = [name for name in imported_names(path) if _forbidden(name)]
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_the_import_check_sees_every_form(tmp_path: Path) -> None:
    package = tmp_path / "sandbox"
    package.mkdir()
    cases = {
        "import core.sms": True,
        "import workers as w": True,
        "from core.sms import count_parts": True,
        "from providers.ants import codes": True,
        "from providers import x": True,
        "from .. import dispatcher": True,
        "from ..core.sms import units": True,
        "from ..workers import sender": True,
        "import importlib\nimportlib.import_module('core.sms')": True,
        "__import__('workers')": True,
        "from . import parts": False,
        "from .parts import split": False,
        "from sandbox.parts import split": False,
        "import dispatchers_of_mine": False,
        "from aiohttp import web": False,
    }
    for source, expected in cases.items():
        module = package / "m.py"
        module.write_text(source + "\n")
        names = imported_names(module, tmp_path)
        assert any(_forbidden(n) for n in names) is expected, (source, names)


def test_importing_the_sandbox_loads_no_code_under_test() -> None:
    code = (
        "import sys\n"
        "import sandbox.app, sandbox.server, sandbox.control, sandbox.parts\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


# -- part counting ---------------------------------------------------------------------------

A, THAI, EMOJI = "a", "\u0e01", "\U0001f600"  # basic GSM, outside GSM (BMP), surrogate pair

# The default alphabet of TS 23.038 6.2.1 (0x1B, the escape, is not a character).
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"  # each is ESC + a code: two septets
PREVIEW_EXAMPLE = "Let's see how many characters will remain unused in this message."

# (text, encoding, units, parts, units free in the last part), each worked out by hand:
# one part holds 160 septets / 70 UCS-2 units; concatenated parts 153 / 67, and a
# two-unit character (escape sequence, surrogate pair) never straddles two parts.
VECTORS: list[tuple[str, str, str, int, int, int]] = [
    ("1 char", A, GSM7, 1, 1, 159),
    ("160 GSM", A * 160, GSM7, 160, 1, 0),
    ("161 GSM", A * 161, GSM7, 161, 2, 145),  # 153 + 8
    ("306 GSM", A * 306, GSM7, 306, 2, 0),  # 153 + 153
    ("307 GSM", A * 307, GSM7, 307, 3, 152),  # 153 + 153 + 1
    ("25 full parts", A * 153 * 25, GSM7, 3825, 25, 0),
    ("26 parts", A * (153 * 25 + 1), GSM7, 3826, 26, 152),
    ("whole default alphabet", DEFAULT_ALPHABET, GSM7, 127, 1, 33),
    ("whole extension table", EXTENSION, GSM7, 20, 1, 140),
    ("form feed costs 2", "\f", GSM7, 2, 1, 158),
    ("80 euros in one part", "€" * 80, GSM7, 160, 1, 0),
    ("81 euros", "€" * 81, GSM7, 162, 2, 143),  # 76 per part (152 septets), then 5 = 10
    ("153 braces", "{" * 153, GSM7, 306, 3, 151),  # 76 + 76 + 1: not ceil(306/153) = 2
    # 153 basic chars then a euro: 155 septets fit one part, no boundary at all
    ("153 then euro, one part", A * 153 + "€", GSM7, 155, 1, 5),
    # ... and with 10 more it is concatenated: 153 | € + 10 (12 septets)
    ("153 then euro then 10", A * 153 + "€" + A * 10, GSM7, 165, 2, 141),
    # the escape would straddle: 152 | € + 151 (153) | 1
    ("euro at 153/154", A * 152 + "€" + A * 152, GSM7, 306, 3, 152),
    # the escape ends part 1 exactly: 151 + € (153) | 153
    ("euro at 152/153", A * 151 + "€" + A * 153, GSM7, 306, 2, 0),
    ("70 UCS-2", THAI * 70, UCS2, 70, 1, 0),
    ("71 UCS-2", THAI * 71, UCS2, 71, 2, 63),  # 67 + 4
    ("134 UCS-2", THAI * 134, UCS2, 134, 2, 0),
    ("135 UCS-2", THAI * 135, UCS2, 135, 3, 66),
    ("one non-GSM char makes it all UCS-2", A * 69 + THAI, UCS2, 70, 1, 0),
    ("159 GSM + 1 Thai", A * 159 + THAI, UCS2, 160, 3, 41),  # 67 + 67 + 26
    ("35 emoji", EMOJI * 35, UCS2, 70, 1, 0),
    ("36 emoji", EMOJI * 36, UCS2, 72, 2, 61),  # 33 per part (66 units), then 3 = 6
    ("emoji fits one part", THAI * 66 + EMOJI, UCS2, 68, 1, 2),
    # the pair would straddle 67/68: 66 | pair + 65 (67) | 1
    ("emoji at 67/68", THAI * 66 + EMOJI + THAI * 66, UCS2, 134, 3, 66),
    # the pair ends part 1 exactly: 65 + pair (67) | 67
    ("emoji at 66/67", THAI * 65 + EMOJI + THAI * 67, UCS2, 134, 2, 0),
    ("ANTS preview example", PREVIEW_EXAMPLE, GSM7, 65, 1, 95),
    ("c cedilla is not GSM (only capital)", "ç", UCS2, 1, 1, 69),
    ("a acute is not GSM", "á", UCS2, 1, 1, 69),
    ("a grave is GSM", "à", GSM7, 1, 1, 159),
    ("tab is not GSM", "\t", UCS2, 1, 1, 69),
    ("a raw ESC is not text", "\x1b", UCS2, 1, 1, 69),
]


@pytest.mark.parametrize(
    ("text", "encoding", "units", "n_parts", "remaining"),
    [v[1:] for v in VECTORS],
    ids=[v[0] for v in VECTORS],
)
def test_part_counts_from_the_standard(
    text: str, encoding: str, units: int, n_parts: int, remaining: int
) -> None:
    assert split(text) == parts.Split(encoding, units, n_parts, remaining)
    assert count_parts(text) == n_parts


def test_every_alphabet_character_is_gsm_and_nothing_else_in_latin_1() -> None:
    for ch in DEFAULT_ALPHABET:
        assert split(ch) == parts.Split(GSM7, 1, 1, 159), repr(ch)
    for ch in EXTENSION:
        assert split(ch) == parts.Split(GSM7, 2, 1, 158), repr(ch)
    gsm = set(DEFAULT_ALPHABET) | set(EXTENSION)
    for code in range(0x100):
        ch = chr(code)
        assert (parts.encoding_of(ch) == GSM7) is (ch in gsm), repr(ch)


def test_too_long_is_over_25_parts_or_4000_bytes() -> None:
    assert (MAX_PARTS, MAX_BYTES) == (25, 4000)
    assert not too_long(A * 153 * 25) and too_long(A * (153 * 25 + 1))
    assert not too_long("{" * 76 * 25) and too_long("{" * (76 * 25 + 1))  # 25 parts, then 26
    # Thai is 3 bytes in UTF-8: 1333 chars (20 parts) = 3999 bytes, 1334 = 4002 bytes
    assert count_parts(THAI * 1334) == 20
    assert not too_long(THAI * 1333) and too_long(THAI * 1334)


def test_the_gateway_uses_these_counts() -> None:
    texts = [v[1] for v in VECTORS]

    async def go() -> None:
        async with sandbox() as k:
            for text in texts:
                _, preview = await k.post("/sms/1/preview", {"text": text})
                counted = split(text)
                assert preview["previews"][0]["messageCount"] == counted.parts
                assert preview["previews"][0]["charactersRemaining"] == counted.remaining
            _, example = await k.post("/sms/1/preview", {"text": PREVIEW_EXAMPLE})
            assert example["previews"][0]["messageCount"] == 1
            assert example["previews"][0]["charactersRemaining"] == 95
            body = {
                "messages": [
                    {"text": t, "destinations": [{"to": f"668477{i:05d}"}]}
                    for i, t in enumerate(texts)
                ]
            }
            _, answer = await k.post("/sms/1/text/advanced", body)
            assert [m["smsCount"] for m in answer["messages"]] == [v[4] for v in VECTORS]
            long = [m["status"]["id"] == 25 for m in answer["messages"]]
            assert long == [v[4] > MAX_PARTS for v in VECTORS]

    run(go)
