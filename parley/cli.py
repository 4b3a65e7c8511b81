"""The `parley` command: validate, draw, chat with, test, import and export topics.

The top layer: it may import engine, webhook and designer. Each command is a thin wrapper; the
work lives in the packages so the web apps and the tests share it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import click

from engine.commandline import database_option, default_database
from engine.errors import ParleyError, TopicError, TopicNotFound
from engine.sample import SAMPLE_RECORDS
from engine.staff_commands import agents, designer_user, staff
from engine.topic import export_text
from parley.accounts_cli import users
from parley.database_cli import copy_db, migrate
from parley.notify_cli import consent, notify, segments
from parley.up import up
from webhook.commands import serve, worker
from webhook.pacing_api import outbound_report_command, send_estimate_command

ROOT = Path(__file__).resolve().parent.parent
TOPICS_DIR = ROOT / "topics"


def topic_files(paths: tuple[str, ...]) -> list[Path]:
    """JSON topic files named directly or found in folders (not in their subfolders)."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(path.glob("*.json"))
        else:
            found.append(path)
    return found


def read_topic(path: Path) -> dict:
    """Parse and fully check a topic file; raises TopicError with every problem."""
    from engine.validation import check, load_json_text

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    document = load_json_text(text, source=str(path))
    check(document, source=str(path))
    return document


def load_topic_argument(topic: str, database: str | None = None) -> dict:
    """A topic given as a file path, or as the id of a stored topic."""
    path = Path(topic)
    if path.suffix == ".json" or path.exists():
        return read_topic(path)
    from engine.store import open_store

    store = open_store(database or default_database())
    try:
        return store.topic_document(topic)
    finally:
        store.close()


@click.group()
@click.version_option(package_name="parley")
def main() -> None:
    """Parley: conversational SMS bots on Twilio."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--quiet", "-q", is_flag=True, help="Print errors only, not warnings.")
def validate(paths: tuple[str, ...], quiet: bool) -> None:
    """Check topic files; print every error and warning with its JSON path.

    An http data source on a host PARLEY_DATA_SOURCE_HOSTS does not list is a warning here
    (and an error when publishing); discovery keywords two of the files share are warnings too.
    """
    from engine.catalog import discovery_overlaps
    from engine.outbound import data_source_policy
    from engine.validation import load_json_text, problems

    outbound = data_source_policy()
    failed = False
    files = topic_files(paths)
    # Files checked together are one catalog: each is also checked against the others.
    catalog = []
    for path in files:
        with contextlib.suppress(OSError, TopicError):
            catalog.append(load_json_text(path.read_text(encoding="utf-8"), source=str(path)))
    for path in files:
        try:
            document = load_json_text(path.read_text(encoding="utf-8"), source=str(path))
            found = problems(document, outbound=outbound) + discovery_overlaps(document, catalog)
        except TopicError as exc:
            found = exc.problems
        except OSError as exc:
            click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            failed = True
            continue
        errors = [p for p in found if p.severity == "error"]
        warnings = [p for p in found if p.severity != "error"]
        failed = failed or bool(errors)
        for problem in errors:
            click.echo(f"{path}: error: {problem.path}: {problem.message}")
        if not quiet:
            for problem in warnings:
                click.echo(f"{path}: warning: {problem.path}: {problem.message}")
        if not errors:
            note = f" ({len(warnings)} warning(s))" if warnings else ""
            click.echo(f"{path}: ok{note}")
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("topic")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="SVG (or .dot) file to write.")
@database_option
def diagram(topic: str, output: str, database: str) -> None:
    """Draw a topic (a file, or a stored topic's id) with Graphviz."""
    from engine.diagram import render_dot, render_svg

    document = load_topic_argument(topic, database)
    text = render_dot(document) if output.endswith(".dot") else render_svg(document)
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


@main.command()
@click.argument("topic")
@click.option("--topics", "topics_dir", default=str(TOPICS_DIR), show_default="topics/",
              help="Folder of the other topics (greeting, fallback, closing).")
@click.option("--phone", default="+15550100001", show_default=True)
@click.option("--user", "user_name", help="Chat as this sample user (a linked account).")
def chat(topic: str, topics_dir: str, phone: str, user_name: str | None) -> None:
    """Talk to a topic in the terminal, through the same engine as the runtime."""
    from engine.assembly import standard_interceptors
    from engine.catalog import StaticCatalog
    from engine.conversation import Engine
    from engine.messages import Inbound, Media
    from engine.outbound import data_source_policy
    from engine.sample import load_sample_data
    from engine.store import open_store

    document = load_topic_argument(topic)
    others = [read_topic(p) for p in topic_files((topics_dir,))
              if json.loads(p.read_text(encoding="utf-8")).get("role", "topic") != "topic"]
    others = [d for d in others if d["id"] != document["id"]]
    with tempfile.TemporaryDirectory(prefix="parley-chat-") as folder:
        store = open_store(Path(folder) / "chat.sqlite", synchronous="OFF")
        load_sample_data(store)
        if user_name:
            user = store.user(user_name=user_name)
            if user is None:
                raise click.ClickException(f"no sample user {user_name!r}")
            with store.write():
                store.link_phone(phone, user["id"])
        engine = Engine(store, catalog=StaticCatalog([document, *others]),
                        interceptors=standard_interceptors(), outbound=data_source_policy())
        click.echo(f"Chatting with {document['name']!r}. Type /photo to send an image, "
                   "/quit to leave.")
        reply = engine.start(phone, document["id"])
        while True:
            for message in reply.messages:
                media = f"  [media: {', '.join(message.media)}]" if message.media else ""
                click.echo(click.style(f"bot> {message.body}{media}", fg="cyan"))
            if reply.mode == "closed":
                click.echo("(conversation closed)")
                return
            try:
                said = input("you> ")
            except EOFError:
                return
            if said.strip() == "/quit":
                return
            media = ()
            if said.strip() == "/photo":
                said, media = "", (Media("https://example.com/photo.jpg", "image/jpeg"),)
            reply = engine.process(Inbound(phone, said, media))


@main.command("test")
@click.argument("paths", nargs=-1, required=True)
@click.option("--topics", "topics_dir", default=str(TOPICS_DIR), show_default="topics/",
              help="Folder of the topics the transcripts talk to.")
@click.option("--require-coverage", is_flag=True,
              help="Fail unless every node of every topic was visited.")
def test_transcripts(paths: tuple[str, ...], topics_dir: str, require_coverage: bool) -> None:
    """Run conversation transcripts and report which nodes and edges they never visited."""
    from engine.outbound import data_source_policy
    from engine.transcripts import run_transcripts

    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    topics = [read_topic(p) for p in topic_files((topics_dir,))]
    report = run_transcripts(files, topics, sample_data=SAMPLE_RECORDS,
                             outbound=data_source_policy())
    for result in report.results:
        mark = click.style("PASS", fg="green") if result.passed else click.style("FAIL", fg="red")
        click.echo(f"{mark} {result.path}: {result.name}")
        if result.mismatch:
            click.echo(str(result.mismatch))
    click.echo("\nCoverage (nodes visited; edges never taken):")
    uncovered = False
    for topic_id in sorted(report.coverage.nodes):
        missed_nodes = report.coverage.missed_nodes(topic_id)
        missed_edges = report.coverage.missed_edges(topic_id)
        uncovered = uncovered or bool(missed_nodes)
        click.echo(f"  {topic_id}: {report.coverage.percent(topic_id):.0f}% of nodes"
                   + (f"; missed nodes: {', '.join(missed_nodes)}" if missed_nodes else "")
                   + (f"; missed edges: {', '.join(f'{n}->{e}' for n, e in missed_edges)}"
                      if missed_edges else ""))
    passed = sum(r.passed for r in report.results)
    failed = len(report.results) - passed
    click.echo(f"\n{passed} passed, {failed} failed")
    if failed or (require_coverage and uncovered):
        sys.exit(1)


@main.command("init-db")
@database_option
@click.option("--sample-data", is_flag=True, help="Also load the sample users and cases.")
def init_db(database: str, sample_data: bool) -> None:
    """Create the database or bring its schema up to date."""
    from engine.sample import load_sample_data
    from engine.store import open_store

    store = open_store(database, migrate=False)
    applied = store.migrate()
    click.echo(f"{database}: {len(applied)} migration(s) applied" if applied
               else f"{database}: schema is current")
    if sample_data:
        added = load_sample_data(store)
        click.echo(f"sample data: {added['users']} user(s), {added['cases']} case(s) added")
    store.close()


@main.command("import")
@click.argument("paths", nargs=-1, required=True)
@database_option
@click.option("--publish", is_flag=True, help="Publish what was imported.")
@click.option("--author", default=lambda: os.environ.get("USER", "cli"))
def import_topics(paths: tuple[str, ...], database: str, publish: bool, author: str) -> None:
    """Store topic files as new versions (nothing is stored if any file has errors)."""
    from engine.outbound import data_source_policy
    from engine.store import open_store
    from engine.validation import check, problems

    documents = []
    outbound = data_source_policy() if publish else None
    for path in topic_files(paths):
        try:
            documents.append(read_topic(path))
            if outbound is not None:  # publishing: a host off the allow-list is an error
                check(documents[-1], source=str(path), outbound=outbound)
        except TopicError as exc:
            raise click.ClickException(str(exc)) from exc
    store = open_store(database)
    try:
        with store.write():
            for document in documents:
                existing = None
                try:
                    existing = store.topic_document(document["id"])
                except TopicNotFound:
                    pass
                summary = store.topic_summary(document["id"])
                if existing == document and (not publish or (
                        summary and summary["published_version"] == summary["latest_version"])):
                    click.echo(f"{document['id']}: unchanged")
                    continue
                if existing == document:
                    version = summary["latest_version"]
                else:
                    warnings = len(problems(document))
                    version = store.save_topic_version(document, author=author,
                                                       note="imported", warnings=warnings)
                if publish:
                    store.publish_topic_version(document["id"], version, by=author)
                click.echo(f"{document['id']}: version {version}"
                           + (" published" if publish else " saved as draft"))
    finally:
        store.close()


@main.command("export")
@click.argument("topic_id")
@click.option("--version", type=int, help="Version to export (default: the latest).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default stdout).")
@database_option
def export_topic(topic_id: str, version: int | None, output: str | None, database: str) -> None:
    """Write a stored topic as JSON that validates against the topic schema."""
    from engine.store import open_store

    store = open_store(database)
    try:
        text = export_text(store.topic_document(topic_id, version))
    except TopicNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command("rotate-key")
@database_option
def rotate_key(database: str) -> None:
    """Seal every sealed value again with a new data key, without losing any.

    With PARLEY_DATA_KEY (a deployment): set it to "NEW,OLD" everywhere and restart, run this,
    then set it to "NEW" alone and restart. In the sandbox (its key kept beside the database):
    stop `parley up`; this makes the new key and retires the old one itself.
    """
    from engine import sealing
    from engine.store import open_store
    from parley.accounts_cli import data_sealer

    local = not os.environ.get(sealing.ENV, "").strip()
    sealer = data_sealer(database)
    folder = Path(database).parent
    if local:
        # The file holds "new,old" until every value is sealed again: a crash in between
        # leaves both keys there, and nothing unreadable.
        old = [part for part in sealing.local_key(folder).split(",") if part]
        new = sealing.new_key()
        sealing.write_local_key(folder, [new, *old])
        sealer = sealing.Sealer([new, *old])
    store = open_store(database, sealer=sealer)
    try:
        with store.write():
            counts = store.reseal()
    except ParleyError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if local:
        sealing.write_local_key(folder, [new])
    click.echo("sealed again with data key " + sealer.key_id + ": "
               + ", ".join(f"{count} {what}" for what, count in counts.items()))
    if local:
        click.echo(f"the old key is retired: {folder / sealing.KEY_FILE} holds the new one alone")
    elif len(sealer.key_ids) > 1:
        click.echo(f"everything opens with the new key alone: set {sealing.ENV} to it (the "
                   "first one) and restart Parley")


@main.command("bench", add_help_option=False,
              context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def bench(arguments: tuple[str, ...]) -> None:
    """Benchmark Parley against the floor; prints a table (`parley bench --help`)."""
    try:
        from bench.run import main as run_benchmarks
    except ImportError as exc:
        raise click.ClickException(
            "the benchmarks run from a checkout of Parley (bench/ beside engine/), "
            f"after ./scripts/setup: {exc}") from exc
    results = run_benchmarks(list(arguments), prog="parley bench")
    if results.failures:
        raise click.ClickException("some benchmarks could not run: "
                                   + "; ".join(results.failures))


# Commands that live with the part of Parley they serve.
for command in (up, serve, worker, staff, designer_user, agents, users, notify, segments,
                consent, migrate, copy_db, outbound_report_command, send_estimate_command):
    main.add_command(command)


def run() -> None:
    """Entry point that turns Parley's errors into one clear line and exit code 1."""
    try:
        main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except ParleyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
