"""`python -m bench`: every benchmark in one run, printed as one markdown table and a plot.

Imports the rest of bench/. What it measures, and what limits each figure: bench/README.md.
The full run takes 20 to 30 minutes on 2 cores (much of it building databases of 1,000,000
stored conversations, on SQLite and on PostgreSQL, for the webhook and for the Insight
pages); `--quick` stops at 100,000 and runs shorter rounds. `--no-postgres` leaves PostgreSQL out.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import (
    agent_push,
    designer,
    engine_cost,
    insight_cost,
    insight_pages,
    report,
    sender,
    webhook_load,
)
from bench.servers import ROOT, Serving, runtime_serving, textbook_serving

SECTIONS = ("webhook", "engine", "recording", "sender", "designer", "insight", "push")


def parse_args(argv: list[str] | None, *, prog: str = "python -m bench") -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Parley's benchmarks: ratios measured side by side in one run.")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: history up to 100,000 conversations, 2 rounds "
                             "of 5 s, fewer engine conversations")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per figure (3)")
    parser.add_argument("--seconds", type=float, help="length of one load round (10)")
    parser.add_argument("--workers", type=int,
                        help="gunicorn workers serving Parley (as webhook/gunicorn.conf.py)")
    parser.add_argument("--threads", type=int,
                        help="threads per worker serving Parley, 1 for sync workers (as "
                             "webhook/gunicorn.conf.py)")
    parser.add_argument("--history", help="stored conversations to compare with an empty "
                                          "database, comma-separated (100000,1000000)")
    parser.add_argument("--engine-phones", type=int,
                        help="conversations per topic size in the engine benchmark (200)")
    parser.add_argument("--recording-phones", type=int,
                        help="conversations per round in Insight recording's engine figure "
                             "(200); the webhook figure takes a fifth as many")
    parser.add_argument("--sender-messages", type=int, help="messages per sender round (300)")
    parser.add_argument("--designer-nodes", type=int, default=500)
    parser.add_argument("--editor-nodes", type=int, default=designer.EDIT_NODES,
                        help="topic edited in the editor's rows (1000)")
    parser.add_argument("--open-nodes", type=int, default=designer.OPEN_NODES,
                        help="topic opened in the editor's rows (5000)")
    parser.add_argument("--insight-conversations", type=int,
                        help="conversations (with their Insight rows) under the Insight "
                             "pages (1000000; 100000 with --quick)")
    parser.add_argument("--insight-rounds", type=int,
                        help="timed requests of each Insight page per database (20; 5 with "
                             "--quick)")
    parser.add_argument("--push-messages", type=int,
                        help="texts whose way to 20 agents' event streams is timed (100)")
    parser.add_argument("--only", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false",
                        help="SQLite only: leave out the PostgreSQL rows (a throwaway "
                             "PostgreSQL server, one and two nodes, 1, 2 and 4 senders)")
    parser.add_argument("--parley-source", type=lambda p: Path(p).resolve(), default=ROOT,
                        help="serve Parley from this checkout (e.g. to compare with an older "
                             "commit); the floor and the load stay this one's")
    parser.add_argument("--baseline-source", type=lambda p: Path(p).resolve(),
                        help="also serve Parley from this checkout in the same rounds (e.g. "
                             "`git archive COMMIT | tar -x -C DIR`), to compare before/after")
    parser.add_argument("--work-dir", type=Path,
                        help="keep databases and server logs here (default: a temporary "
                             "folder, removed at the end)")
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench",
                        help="where results.md and bench.png go (var/bench)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 3)
    args.seconds = args.seconds or (5.0 if quick else 10.0)
    history = args.history if args.history is not None else \
        ("100000" if quick else "100000,1000000")
    args.history = [int(h.replace("_", "")) for h in history.split(",") if h.strip()]
    args.engine_phones = args.engine_phones or (50 if quick else 200)
    args.recording_phones = args.recording_phones or (50 if quick else 200)
    args.sender_messages = args.sender_messages or (100 if quick else 300)
    args.insight_conversations = args.insight_conversations or (
        100_000 if quick else 1_000_000)
    args.insight_rounds = args.insight_rounds or (5 if quick else 20)
    args.push_messages = args.push_messages or (20 if quick else agent_push.MESSAGES)
    production = runtime_serving()
    args.serving = Serving(args.workers or production.workers,
                           args.threads or production.threads)
    args.only = set(SECTIONS if not args.only else args.only.split(","))
    unknown = args.only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, folder: Path) -> report.Results:
    """Run the sections asked for; one that fails is reported and the others still run."""
    results = report.Results()

    def webhook() -> None:
        results.webhook = webhook_load.run(
            folder / "webhook", history=args.history, serving=args.serving,
            floor_servings=[args.serving, textbook_serving()],
            seconds=args.seconds, rounds=args.rounds, say=say, source=args.parley_source,
            baseline=args.baseline_source, postgres=args.postgres)

    def engine() -> None:
        results.engine = engine_cost.run(phones=args.engine_phones, answers=3,
                                         rounds=args.rounds)
        results.engine_conversations = args.engine_phones

    def recording() -> None:
        # More rounds than elsewhere: the figure is a median of the rounds' ratios.
        results.recording = insight_cost.run(
            phones=args.recording_phones, webhook_phones=max(2, args.recording_phones // 5),
            rounds=2 * args.rounds + 1, postgres=args.postgres, say=say)

    def send() -> None:
        (folder / "sender").mkdir(parents=True, exist_ok=True)
        results.sender = sender.run(folder / "sender", messages=args.sender_messages,
                                    rounds=args.rounds)
        if args.postgres:
            say("sender: the outbox on PostgreSQL drained by 1, 2 and 4 `parley worker`s")
            # Three times as many: several senders drain a round fast.
            results.senders = sender.run_senders(
                folder / "senders", messages=3 * args.sender_messages, rounds=args.rounds)

    def design() -> None:
        results.designer = designer.run(nodes=args.designer_nodes, rounds=args.rounds,
                                        edit_nodes=args.editor_nodes,
                                        open_nodes=args.open_nodes)

    def insight() -> None:
        results.insight = insight_pages.run(
            folder / "insight", conversations=args.insight_conversations,
            rounds=args.insight_rounds, postgres=args.postgres, say=say)
    def push() -> None:
        results.push = agent_push.run(folder / "push", messages=args.push_messages,
                                      postgres=args.postgres)

    for name, title, step in (
            ("webhook", "Parley and the floor under gunicorn", webhook),
            ("engine", "cost per message vs topic size", engine),
            ("recording", "Insight recording on and off, SQLite and PostgreSQL", recording),
            ("sender", "outbox to Prism through the twilio client", send),
            ("designer", f"validate and draw a {args.designer_nodes}-node topic; edit a "
             f"{args.editor_nodes:,}-node topic and open a {args.open_nodes:,}-node one in "
             "the editor", design),
            ("insight", f"Insight pages on {args.insight_conversations:,} conversations",
             insight),
            ("push", "an inbound SMS to its text on 20 agents' event streams", push)):
        if name not in args.only:
            continue
        say(f"{name}: {title}")
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - report it, and measure the rest
            say(f"{name} failed:\n{traceback.format_exc()}")
            results.failures.append(f"{name}: {type(exc).__name__}: {exc}")
    return results


def main(argv: list[str] | None = None, *, prog: str = "python -m bench") -> report.Results:
    """Run, print and write the results; `prog` is how the command was typed
    ("python -m bench" or "parley bench"), for the help and the printed conditions."""
    args = parse_args(argv, prog=prog)
    command = shlex.join([*prog.split(), *(sys.argv[1:] if argv is None else argv)])
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        results = measure(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
            results = measure(args, Path(folder))
    text = "\n".join([
        "## Parley benchmarks", "",
        report.conditions(results, command=command, cores=os.cpu_count() or 1), "",
        report.table(results), ""])
    print(text, flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(text, encoding="utf-8")
    picture = report.plot(results, args.output / "bench.png")
    if picture is not None:
        say(f"wrote {args.output / 'results.md'} and {picture}")
    if results.failures and argv is None:
        sys.exit(1)
    return results
