"""CPU time used by a process and everything it started, from /proc. Imports nothing of
Parley.

A benchmark on a shared machine cannot trust wall time alone; CPU seconds per message,
counted for each program (Prism, the senders, PostgreSQL), say which one a figure is made
of, whatever else runs on the machine. The children a process has waited for count too
(PostgreSQL's postmaster waits for each ended connection's backend).
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # after "pid (name) "


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def tree_seconds(pid: int) -> float:
    """CPU seconds (user and system) of `pid`, its live descendants and the children they
    have waited for."""
    total, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        fields = _stat(current)
        if fields is None:
            continue
        # utime, stime, cutime, cstime are fields 14 to 17 of stat (11 to 14 after the name).
        total += sum(int(v) for v in fields[11:15])
        pending += _children(current)
    return total / _TICK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    total = sum(fields[:8])  # guest time is already in user
    return (total - idle) / _TICK, total / _TICK
