"""The runtime's commands for `parley`: `worker` (the sender) and `serve` (local all-in-one).

Imports webhook and engine; parley.cli registers these on its `main` group.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

import click

from engine.errors import ConfigError, ParleyError
from engine.outbound import is_loopback_name

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_TOPICS = ROOT / "topics"


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
def worker(once: bool) -> None:
    """Deliver the outbox with Twilio and fetch inbound media, until stopped."""
    from webhook import create_app
    from webhook.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runner = Worker(create_app())
    if once:
        runner.drain()
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runner.run(stop)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--sandbox/--no-sandbox", default=None,
              help="Run the local sandbox (default: when no Twilio auth token is set).")
@click.option("--examples/--no-examples", default=True, show_default=True,
              help="In the sandbox, load the example topics and sample data into an empty "
                   "database.")
def serve(host: str, port: int, sandbox: bool | None, examples: bool) -> None:
    """Run the runtime and its sender in one process, for local use (not production)."""
    from werkzeug.serving import run_simple

    from webhook import create_app, get_runtime
    from webhook.worker import Worker

    if sandbox is None:
        sandbox = not os.environ.get("PARLEY_TWILIO_AUTH_TOKEN")
    if sandbox:
        if not is_loopback_name(host):
            raise click.ClickException(
                f"the sandbox only listens on this machine (127.0.0.1), not on {host}: its "
                "phone page needs no password.")
        os.environ["PARLEY_SANDBOX"] = "1"
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        os.environ.setdefault("PARLEY_PUBLIC_URL", f"http://{shown}:{port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = get_runtime(app).settings
    if settings.sandbox and examples:
        _load_examples(settings.database)
    Worker(app).start_thread()
    if settings.sandbox:
        click.echo(f"Parley sandbox: open {settings.public_url}/sandbox to text the bot "
                   "(no Twilio account needed).")
    else:
        click.echo(f"Parley runtime on {host}:{port}; Twilio calls {settings.public_url}"
                   "/twilio/sms")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _load_examples(database: str) -> None:
    """Publish the example topics and load the sample records into an empty database."""
    from engine.sample import load_sample_data
    from engine.store import open_store
    from engine.validation import check

    store = open_store(database)
    try:
        if store.list_topics(include_deleted=True):
            return
        documents = []
        for path in sorted(EXAMPLE_TOPICS.glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            try:
                check(document, source=str(path))
            except ParleyError as exc:
                raise click.ClickException(str(exc)) from exc
            documents.append(document)
        with store.write():
            for document in documents:
                version = store.save_topic_version(document, author="examples")
                store.publish_topic_version(document["id"], version, by="examples")
        load_sample_data(store)
        click.echo(f"Loaded {len(documents)} example topics and the sample records.")
    finally:
        store.close()
