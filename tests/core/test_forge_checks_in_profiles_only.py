"""What differs per forge lives in its profile (hookd.core.forge_profiles): no other module
of hookd compares a forge's name with a string, so adding a forge is adding a profile."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "hookd"
PROFILES = SRC / "core" / "forge_profiles"
# `forge == "gitlab"`, `spec.forge != 'generic'`, `forge in ("github", ...)`, `forge not in (`
FORGE_CHECK = re.compile(r"""forge\s*(?:[!=]=\s*["']|(?:not\s+)?in\s*[(\[{])""")


def forge_checks(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if FORGE_CHECK.search(line)]


def test_the_pattern_finds_each_kind_of_forge_check() -> None:
    found = forge_checks(
        'if spec.forge == "gitlab":\nx = forge != \'generic\'\nif forge in ("a", "b"):\n'
        "if delivery.forge not in [A]:\nforge = profile(name)\n"
    )
    assert len(found) == 4


def test_no_module_outside_the_profiles_tells_forges_apart_by_name() -> None:
    modules = [path for path in SRC.rglob("*.py") if PROFILES not in path.parents]
    assert len(modules) > 50
    found = {
        str(path.relative_to(SRC)): checks
        for path in modules
        if (checks := forge_checks(path.read_text(encoding="utf-8")))
    }
    assert found == {}
