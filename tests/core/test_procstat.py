"""Reading /proc/PID/stat lines, whatever a process names itself."""

from __future__ import annotations

import pytest

from hookd.core.procstat import ProcStat, parse_stat

TAIL = "S 10 20 30 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 0 0"


@pytest.mark.parametrize("name", ["sleep", "a b", "x) S 1 2 3", "(", ""])
def test_the_fields_after_any_command_name(name: str) -> None:
    assert parse_stat(f"4242 ({name}) {TAIL}\n") == ProcStat(
        pid=4242, name=name, state="S", ppid=10, pgid=20, sid=30, started=123456
    )


@pytest.mark.parametrize("line", ["", "4242 sleep S 1", "4242 (sleep) S 1 2 3"])
def test_a_line_that_is_not_a_stat_line_raises(line: str) -> None:
    with pytest.raises(ValueError, match="not a /proc/PID/stat line"):
        parse_stat(line)
