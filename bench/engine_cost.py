"""Engine cost per message against topic size: 10, 100, 1,000 and 5,000 nodes.

Run: `python -m bench.engine_cost`. Prints a markdown table. Each size runs the same script of
messages (conversations spread over every chain of the topic) on its own database, with
SQLite's synchronous=OFF so that the figure is the engine's work, not the disk's. Sizes are
measured interleaved, several rounds, and the best round is kept: the machines are shared
and noisy, so the claim is the ratio to the 10-node topic, not the absolute time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.topicgen import chain_topic
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.insight import Recorder
from engine.messages import Inbound
from engine.store import open_store

SIZES = (10, 100, 1000, 5000)


def conversation_script(document: dict, *, phones: int, answers: int) -> list[tuple[str, str]]:
    """(phone, text) messages: each phone opens the menu, picks a chain, answers questions."""
    chains = len(document["nodes"][0]["options"])
    script = []
    for p in range(phones):
        phone = f"+1555{p:07d}"
        script.append((phone, "bench"))
        script.append((phone, str(p % chains + 1)))
    for a in range(answers):
        for p in range(phones):
            script.append((f"+1555{p:07d}", f"answer {a}"))
    return script


def measure(size: int, folder: Path, *, phones: int, answers: int,
            recorder: Recorder | None = None, name: str = "engine") -> float:
    """Seconds per message for the answering part of the script (after warm-up)."""
    document = chain_topic(size)
    store = open_store(folder / f"{name}-{size}.sqlite", synchronous="OFF")
    engine = Engine(store, catalog=StaticCatalog([document]), recorder=recorder)
    script = conversation_script(document, phones=phones, answers=answers)
    warm = 2 * phones
    for phone, text in script[:warm]:
        engine.process(Inbound(phone, text))
    started = time.perf_counter()
    for phone, text in script[warm:]:
        engine.process(Inbound(phone, text))
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed / (len(script) - warm)


def run(*, phones: int, answers: int, rounds: int,
        sizes: tuple[int, ...] = SIZES) -> dict[int, list[float]]:
    """Seconds per message of every round, by topic size; sizes interleaved in each round."""
    results: dict[int, list[float]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
        for round_ in range(rounds):
            for size in sizes:
                sub = Path(folder) / f"r{round_}"
                sub.mkdir(exist_ok=True)
                results[size].append(measure(size, sub, phones=phones, answers=answers))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--answers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results = run(phones=args.phones, answers=args.answers, rounds=args.rounds)
    base = min(results[SIZES[0]])
    print(f"Engine cost per message ({args.phones} conversations x {args.answers} answers, "
          f"best of {args.rounds} rounds)\n")
    print("| topic nodes | per message (best) | median | vs 10 nodes |")
    print("|---:|---:|---:|---:|")
    for size in SIZES:
        best, median = min(results[size]), statistics.median(results[size])
        print(f"| {size:,} | {best * 1e6:,.0f} µs | {median * 1e6:,.0f} µs | "
              f"{best / base:.2f}x |")
    print("\nGoal: flat (1,000 nodes within 1.25x of 10 nodes).")


if __name__ == "__main__":
    main()
