"""The benchmark's markdown table and its PNG plot. Imports bench's result types only.

Every row is a ratio measured side by side in one run; the absolute numbers beside it are
what this machine did at that moment, not a claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench import designer, insight_cost, insight_pages
from bench.designer import DesignerResults
from bench.insight_pages import InsightPagesResults
from bench.sender import LONG_CODE_MPS, TOLL_FREE_MPS, SenderResults, SendersResults
from bench.servers import runtime_serving
from bench.webhook_load import WebhookResults

THROUGHPUT_GOAL = 0.80  # Parley at 80% or more of the floor
FLAT_GOAL = 1.25  # "flat": within 1.25x
POSTGRES_HISTORY_GOAL = 0.90  # PostgreSQL with a million conversations: 0.9x empty or more
PACING_GOAL = 0.90  # pacing may cost the sender at most a tenth of its throughput


@dataclass
class Results:
    webhook: WebhookResults | None = None
    engine: dict[int, list[float]] | None = None  # topic nodes -> seconds per message
    engine_conversations: int = 0
    sender: SenderResults | None = None
    senders: SendersResults | None = None  # 1, 2, 4 senders on PostgreSQL
    designer: DesignerResults | None = None
    insight: InsightPagesResults | None = None  # Insight pages, SQLite and PostgreSQL
    recording: insight_cost.InsightResults | None = None  # Insight recording on and off
    push: list | None = None  # bench.agent_push.PushResult, SQLite then PostgreSQL
    failures: list[str] = field(default_factory=list)  # sections that could not run


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def _mib(kib: list[int]) -> str:
    return f"{max(kib) / 1024:,.0f} MiB" if kib else "n/a"


def _percentiles(result) -> str:
    return " / ".join(f"{result.percentile(q) * 1e3:,.0f}" for q in (0.5, 0.95, 0.99))


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(results: Results) -> list[tuple[str, str, str, str, str]]:
    """(figure, Parley, reference, ratio, goal) for each line of the table."""
    out: list[tuple[str, str, str, str, str]] = []
    web = results.webhook
    if web is not None:
        p, f = web.parley, web.floor
        ratio = p.best_rate / f.best_rate if f.best_rate else 0.0
        out.append(("Webhook throughput at saturation", f"{p.best_rate:,.0f} req/s",
                    f"floor {f.best_rate:,.0f} req/s", f"{ratio:.2f}",
                    f">= {THROUGHPUT_GOAL:.2f}: {_verdict(ratio >= THROUGHPUT_GOAL)}"))
        if len(web.floors) > 1:
            out.append(("The floor under each setting (the best is the reference)", "-",
                        "; ".join(f"{t.server.serving}: {t.best_rate:,.0f} req/s"
                                  for t in web.floors), "-", "-"))
        pp, fp = p.best_paced, f.best_paced
        if pp is not None and fp is not None:
            out.append(("Latency p50 / p95 / p99 at 50% of saturation",
                        f"{_percentiles(pp)} ms", f"floor {_percentiles(fp)} ms",
                        f"p99 {pp.percentile(0.99) / fp.percentile(0.99):.2f}", "-"))
        b = web.baseline
        if b is not None and b.best_paced is not None and fp is not None:
            ratio = b.best_rate / f.best_rate if f.best_rate else 0.0
            out.append(("Baseline checkout: throughput at saturation",
                        f"{b.best_rate:,.0f} req/s", f"floor {f.best_rate:,.0f} req/s",
                        f"{ratio:.2f}", "-"))
            out.append(("Baseline checkout: p50 / p95 / p99 at 50%",
                        f"{_percentiles(b.best_paced)} ms", f"floor {_percentiles(fp)} ms",
                        f"p99 {b.best_paced.percentile(0.99) / fp.percentile(0.99):.2f}", "-"))
    if results.engine:
        sizes = sorted(results.engine)
        base = min(results.engine[sizes[0]])
        for size in sizes:
            best = min(results.engine[size])
            goal = "-"
            if size == 1000:
                goal = f"<= {FLAT_GOAL}x: {_verdict(best / base <= FLAT_GOAL)}"
            out.append((f"Engine per message, {size:,}-node topic", f"{best * 1e6:,.0f} µs",
                        f"{sizes[0]:,} nodes" if size != sizes[0] else "-",
                        f"{best / base:.2f}x", goal))
    if web is not None:
        empty = web.history[0].best_rate
        for level, target in sorted(web.history.items()):
            if level == 0:
                continue
            ratio = target.best_rate / empty if empty else 0.0
            out.append((f"Webhook throughput, {level:,} conversations stored",
                        f"{target.best_rate:,.0f} req/s", f"empty database {empty:,.0f} req/s",
                        f"{ratio:.2f}",
                        f">= {1 / FLAT_GOAL:.2f}: {_verdict(ratio >= 1 / FLAT_GOAL)}"))
    if web is not None and web.postgres is not None:
        out += _postgres_rows(web)
    if results.sender is not None:
        best = results.sender.best
        out.append(("Sender (one worker) through twilio to Prism", f"{best:,.0f} msg/s",
                    f"Twilio per number: long code {LONG_CODE_MPS:g}/s, toll-free "
                    f"{TOLL_FREE_MPS:g}/s",
                    f"{best / LONG_CODE_MPS:,.0f}x / {best / TOLL_FREE_MPS:,.0f}x",
                    f"above {TOLL_FREE_MPS:g}/s: {_verdict(best > TOLL_FREE_MPS)}"))
        unpaced = results.sender.best_unpaced
        if unpaced:
            ratio = best / unpaced
            out.append(("Sender with pacing's accounting (budgets, quiet hours)",
                        f"{best:,.0f} msg/s", f"without it {unpaced:,.0f} msg/s",
                        f"{ratio:.2f}", f">= {PACING_GOAL:.2f}: {_verdict(ratio >= PACING_GOAL)}"))
    if results.senders is not None:
        out += _senders_rows(results.senders)
    if results.designer is not None:
        out += designer.rows(results.designer)
    if results.insight is not None:
        out += insight_pages.rows(results.insight)
    if results.recording is not None:
        out += insight_cost.rows(results.recording)
    if web is not None and web.parley_rss_kib:
        ratio = max(web.parley_rss_kib) / max(web.floor_rss_kib) if web.floor_rss_kib else 0
        out.append(("Peak RSS of a runtime worker after the load", _mib(web.parley_rss_kib),
                    f"floor {_mib(web.floor_rss_kib)}", f"{ratio:.2f}", "-"))
        biggest = max(web.history)
        if biggest:
            out.append((f"Peak RSS, {biggest:,} conversations stored",
                        _mib(web.history_rss_kib.get(biggest, [])), "-", "-", "-"))
    if results.push:
        from bench.agent_push import rows as push_rows

        out.extend(push_rows(results.push))
    return out


def _postgres_rows(web) -> list[tuple[str, str, str, str, str]]:
    """Parley on PostgreSQL beside Parley on SQLite, measured in the same rounds."""
    pg, lite = web.postgres, web.parley
    one = pg.one
    out = [("Webhook throughput on PostgreSQL, one node", f"{one.best_rate:,.0f} req/s",
            f"SQLite {lite.best_rate:,.0f} req/s",
            f"{one.best_rate / lite.best_rate if lite.best_rate else 0:.2f}", "-")]
    if one.best_paced is not None and lite.best_paced is not None:
        out.append(("Latency p50 / p95 / p99 at 50% of saturation, PostgreSQL",
                    f"{_percentiles(one.best_paced)} ms",
                    f"SQLite {_percentiles(lite.best_paced)} ms",
                    f"p99 {one.best_paced.percentile(0.99) / lite.best_paced.percentile(0.99):.2f}",
                    "-"))
    def cpu(target) -> tuple[str, float]:
        parts = [(part, target.cpu_ms(part)) for part in ("Parley", "PostgreSQL")
                 if part == "Parley" or target.database_pid is not None]
        return " + ".join(f"{part} {ms:.2f}" for part, ms in parts) + " ms", \
            sum(ms for _, ms in parts)

    if lite.cpu and one.cpu:
        (mine, total), (theirs, reference) = cpu(one), cpu(lite)
        out.append(("Server CPU per request at saturation, PostgreSQL one node", mine,
                    f"SQLite: {theirs}", f"{total / reference if reference else 0:.2f}",
                    "-"))
    nodes = pg.nodes
    if nodes is not None and nodes.cpu and one.cpu:
        (mine, total), (theirs, reference) = cpu(nodes), cpu(one)
        out.append((f"Server CPU per request at saturation, PostgreSQL {1 + len(nodes.nodes)}"
                    " nodes", mine, f"one node: {theirs}",
                    f"{total / reference if reference else 0:.2f}", "-"))
    if nodes is not None:
        ratio = nodes.best_rate / one.best_rate if one.best_rate else 0.0
        count = 1 + len(nodes.nodes)
        out.append((f"Webhook throughput on PostgreSQL, {count} nodes on {pg.cores} cores",
                    f"{nodes.best_rate:,.0f} req/s", f"one node {one.best_rate:,.0f} req/s",
                    f"{ratio:.2f}",
                    f"none: the {count} nodes share the same {pg.cores} cores"))
    for level, target in sorted(pg.history.items()):
        ratio = target.best_rate / one.best_rate if one.best_rate else 0.0
        out.append((f"Webhook throughput on PostgreSQL, {level:,} conversations stored",
                    f"{target.best_rate:,.0f} req/s", f"empty database {one.best_rate:,.0f} "
                    "req/s", f"{ratio:.2f}",
                    f">= {POSTGRES_HISTORY_GOAL:.2f}: "
                    f"{_verdict(ratio >= POSTGRES_HISTORY_GOAL)}"))
        if target.cpu and one.cpu:
            (mine, total), (theirs, reference) = cpu(target), cpu(one)
            ratio = reference / total if total else 0.0
            out.append((f"Server CPU per request on PostgreSQL, {level:,} conversations "
                        "stored", mine, f"empty database: {theirs}", f"{ratio:.2f}",
                        f">= {POSTGRES_HISTORY_GOAL:.2f} (empty / stored): "
                        f"{_verdict(ratio >= POSTGRES_HISTORY_GOAL)}"))
        rows, index = pg.sequential_rows(level)
        out.append((f"Rows of conversations, messages, claims read by sequential scans in "
                    f"that load ({level:,} stored)", f"{rows:,}", f"{index:,} index scans",
                    "-", f"0: {_verdict(rows == 0)}"))
    return out


def _senders_rows(senders: SendersResults) -> list[tuple[str, str, str, str, str]]:
    """The outbox drained by 1, 2, 4 senders, and what limits them."""
    out: list[tuple[str, str, str, str, str]] = []
    first = None
    counts = sorted({d.senders for d in senders.drains})
    for count in counts:
        best = senders.best(count)
        first = first or best
        out.append((f"Outbox on PostgreSQL drained by {count} sender{'s' if count > 1 else ''}"
                    " (`parley worker`) to Prism", f"{best.rate:,.0f} msg/s",
                    f"1 sender {first.rate:,.0f} msg/s" if count != first.senders else "-",
                    f"{best.rate / first.rate if first.rate else 0:.2f}x", "-"))
    if counts:
        top = senders.best(counts[-1])
        out.append((f"What limits {counts[-1]} senders (CPU per message)",
                    f"Prism {top.cpu_ms_per_message('Prism'):.1f} ms, senders "
                    f"{top.cpu_ms_per_message('senders'):.1f} ms, PostgreSQL "
                    f"{top.cpu_ms_per_message('PostgreSQL'):.1f} ms",
                    f"Prism alone {senders.prism_alone:,.0f} msg/s; Twilio per number: long "
                    f"code {LONG_CODE_MPS:g}/s, toll-free {TOLL_FREE_MPS:g}/s",
                    f"{top.busy_cores:.1f} of {senders.cores} cores busy "
                    f"(the machine: {top.machine_busy:.0%})",
                    f"limit: {senders_limit(senders)}"))
    return out


def senders_limit(senders: SendersResults) -> str:
    """What stops more senders from sending more, in a few words."""
    counts = sorted({d.senders for d in senders.drains})
    top = senders.best(counts[-1])
    shares = {part: top.cpu_ms_per_message(part) for part in ("Prism", "senders", "PostgreSQL")}
    total = sum(shares.values()) or 1.0
    split = ", ".join(f"{part} {ms / total:.0%}" for part, ms in shares.items())
    if top.busy_cores >= 0.8 * senders.cores or top.machine_busy >= 0.9:
        limit = f"this machine's {senders.cores} cores ({split} of our CPU)"
    elif senders.prism_alone and top.rate >= 0.8 * senders.prism_alone:
        limit = "Prism"
    else:
        limit = f"round trips to Prism, cores idle ({split} of our CPU)"
    database = 1e3 / shares["PostgreSQL"] if shares["PostgreSQL"] else 0.0
    return (f"{limit}; PostgreSQL's share would sustain {database:,.0f} msg/s per core; "
            f"with Twilio, one number's {LONG_CODE_MPS:g} to {TOLL_FREE_MPS:g} msg/s")


def table(results: Results) -> str:
    lines = ["| figure | Parley | reference | ratio | goal |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def conditions(results: Results, *, command: str, cores: int) -> str:
    """One paragraph on how the figures were taken."""
    parts = [f"`{command}` on {cores} cores."]
    web = results.webhook
    if web is not None:
        parts.append(
            f"gunicorn on 127.0.0.1: Parley with {web.serving}"
            f"{' (webhook/gunicorn.conf.py)' if web.serving == runtime_serving() else ''}, "
            f"the floor with {web.floor.server.serving}; best of {web.rounds} "
            f"interleaved rounds of {web.seconds:g} s; Parley's answers average "
            f"{web.parley_reply_bytes:,.0f} bytes, the floor's {web.floor_reply_bytes:,.0f}.")
        errors = web.parley.errors + sum(t.errors for t in web.floors) + sum(
            t.errors for level, t in web.history.items() if level)
        if web.postgres is not None:
            pg = web.postgres
            errors += sum(t.errors for t in pg.targets)
            filled = "; ".join(f"{level:,} conversations filled in {seconds:,.0f} s"
                               for level, seconds in sorted(pg.fill_seconds.items()))
            parts.append(
                f"PostgreSQL {pg.server_version}: a throwaway server on the same machine, "
                "durable (fsync on, synchronous_commit on: one flush per COMMIT, as "
                "SQLite's synchronous=FULL), default settings otherwise; each node served "
                f"as Parley on SQLite{'; ' + filled if filled else ''}.")
        if errors:
            parts.append(f"{errors} request(s) failed (not counted as answered).")
    if results.engine:
        parts.append(f"Engine: {results.engine_conversations} conversations per size, best "
                     f"of {len(next(iter(results.engine.values())))} rounds.")
    if results.designer is not None and results.designer.editor is not None:
        parts.append(designer.conditions(results.designer))
    if results.insight is not None:
        parts.append(insight_pages.conditions(results.insight))
    if results.recording is not None:
        parts.append(insight_cost.conditions(results.recording))
    for failure in results.failures:
        parts.append(f"**Not measured** ({failure}).")
    if results.sender is not None and results.sender.failed:
        parts.append(f"Sender: {results.sender.failed} message(s) not delivered.")
    if results.senders is not None:
        s = results.senders
        parts.append(f"Senders on PostgreSQL: {s.messages} messages to distinct phones per "
                     f"round, best of {len(s.drains) // max(len({d.senders for d in s.drains}), 1)}"
                     " rounds; Prism answers every message with the same sid.")
        if s.failed:
            parts.append(f"Senders: {s.failed} message(s) not delivered.")
    return " ".join(parts)


def plot(results: Results, path: Path) -> Path | None:
    """Curves: engine cost vs topic size, throughput vs stored history, latency spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    panels = [name for name, present in (
        ("engine", bool(results.engine)), ("history", results.webhook is not None),
        ("latency", results.webhook is not None and results.webhook.parley.best_paced))
        if present]
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2),
                                squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        if panel == "engine":
            sizes = sorted(results.engine)
            axis.plot(sizes, [min(results.engine[s]) * 1e6 for s in sizes], "o-",
                      label="best round")
            base = min(results.engine[sizes[0]]) * 1e6
            axis.axhline(base * FLAT_GOAL, color="#dc2626", linestyle=":",
                         label=f"goal: {FLAT_GOAL}x the {sizes[0]}-node figure")
            axis.set_xscale("log")
            axis.set_ylim(bottom=0)
            axis.set_xlabel("topic nodes")
            axis.set_ylabel("engine time per message (µs)")
            axis.set_title("Engine cost vs topic size")
        elif panel == "history":
            web = results.webhook
            levels = sorted(web.history)
            axis.plot(range(len(levels)), [web.history[lv].best_rate for lv in levels], "o-",
                      label="Parley")
            axis.axhline(web.floor.best_rate, color="#64748b", linestyle="--",
                         label="floor (empty)")
            axis.axhline(web.history[0].best_rate / FLAT_GOAL, color="#dc2626",
                         linestyle=":", label=f"goal: within {FLAT_GOAL}x of empty")
            axis.set_xticks(range(len(levels)), [f"{lv:,}" for lv in levels])
            axis.set_ylim(bottom=0)
            axis.set_xlabel("closed conversations stored (10 messages each)")
            axis.set_ylabel("requests/s at saturation")
            axis.set_title("Webhook throughput vs stored history")
        else:
            web = results.webhook
            for target, style in ((web.parley, "-"), (web.floor, "--")):
                latencies = sorted(target.best_paced.latencies)
                if not latencies:
                    continue
                share = [(i + 1) / len(latencies) for i in range(len(latencies))]
                axis.plot([x * 1e3 for x in latencies], share, style,
                          label=f"{target.label} at {target.best_rate / 2:,.0f} req/s")
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_formatter(FuncFormatter(
                lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))
            axis.tick_params(axis="x", which="minor", labelsize=7)
            axis.set_xlabel("latency (ms)")
            axis.set_ylabel("share of requests answered")
            axis.set_title("Latency at 50% of saturation")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
