"""Recording's share of the engine's per-message cost: Recorder against NullRecorder.

Imports bench.engine_cost and engine.insight. Run: `python -m bench.insight_cost`. The same
script of messages (bench.engine_cost) runs with Insight recording and with it switched off
(NullRecorder), interleaved in each round on fresh databases, so that both see the same
machine noise; the claim is the ratio of the best rounds, with goal <= 1.05.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.engine_cost import measure
from engine.insight import NullRecorder, Recorder

GOAL = 1.05


def run(*, phones: int, answers: int, rounds: int, size: int = 100) -> dict[str, list[float]]:
    """Seconds per message of every round, with recording ("on") and without ("off")."""
    results: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
        for round_ in range(rounds):
            sub = Path(folder) / f"r{round_}"
            sub.mkdir()
            # Alternate which goes first, so neither always pays for a cold cache.
            order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
            for which in order:
                recorder = Recorder() if which == "on" else NullRecorder()
                results[which].append(measure(size, sub, phones=phones, answers=answers,
                                              recorder=recorder, name=which))
    return results


def table(results: dict[str, list[float]]) -> str:
    """Markdown rows: per message with and without recording, and the ratio of the bests."""
    on, off = min(results["on"]), min(results["off"])
    lines = ["| engine per message | best | median |", "|---|---:|---:|"]
    for label, key in (("with Insight recording", "on"), ("recording off", "off")):
        lines.append(f"| {label} | {min(results[key]) * 1e6:,.0f} µs | "
                     f"{statistics.median(results[key]) * 1e6:,.0f} µs |")
    lines.append(f"\nRecording ratio: {on / off:.3f} (goal <= {GOAL})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--answers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    print(table(run(phones=args.phones, answers=args.answers, rounds=args.rounds)))


if __name__ == "__main__":
    main()
