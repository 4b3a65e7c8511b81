"""`parley up`: the whole of Parley on one machine, for trying it and for developing it.

The top layer (imports engine, webhook, designer). Starts the runtime with its sender thread
and the designer, on one embedded SQLite database, with the example topics published. Without
Twilio credentials it is the local sandbox: a browser phone texts the bot, and an author (who
also supervises) and an agent are made with random passwords, printed at every start (local
only).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import MutableMapping
from pathlib import Path

import click
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from engine.errors import ConfigError
from engine.instance import instance_folder, private_folder, sandbox_pin_pepper
from webhook.config import SANDBOX_NOTIFY_NUMBER
from webhook.startup import freeze_start_up_objects

ROOT = Path(__file__).resolve().parent.parent
# The sandbox's staff: an author who also supervises the workspace, and an agent.
SANDBOX_LOGINS = {"admin": (("author", "supervisor"), "Sandbox author"),
                  "agent": (("agent",), "Sandbox agent")}


def _ensure_sandbox_logins(database: str, instance: Path) -> dict[str, str]:
    """The sandbox's staff accounts (SANDBOX_LOGINS); their passwords are kept locally."""
    from engine.store import open_store

    path = instance / "sandbox-logins.txt"
    known = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, password = line.partition(" ")
            known[name] = password
    store = open_store(database)
    try:
        with store.write():
            for name, (roles, display_name) in SANDBOX_LOGINS.items():
                member = store.staff_member(name)
                if member is not None:
                    store.change_staff_roles(name, add=roles)
                    if name in known:
                        continue
                known[name] = secrets.token_urlsafe(9)
                if member is None:
                    store.add_staff(name, generate_password_hash(known[name]), roles=roles,
                                    display_name=display_name)
                else:
                    store.set_staff_password(name, generate_password_hash(known[name]))
    finally:
        store.close()
    private_folder(instance, tighten=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{name} {known[name]}\n" for name in SANDBOX_LOGINS))
    return known


def sandbox_environment(environ: MutableMapping[str, str], *, url: str) -> None:
    """What `parley up` sets for the sandbox runtime. The pepper must live outside the
    database; in the sandbox a file of the instance folder will do, the same file `parley
    users set-pin` reads (parley/accounts_cli.py). Notifications come from a number of their
    own, as a deployment with PARLEY_NOTIFY_NUMBER has it, so the sandbox phone shows both
    threads and STOP to either can be tried."""
    environ["PARLEY_SANDBOX"] = "1"
    environ.setdefault("PARLEY_PUBLIC_URL", url)
    if not environ.get("PARLEY_SMS_NUMBER"):
        environ.setdefault("PARLEY_NOTIFY_NUMBER", SANDBOX_NOTIFY_NUMBER)
    environ.setdefault("PARLEY_PIN_PEPPER", sandbox_pin_pepper(instance_folder(environ)))


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int,
              help="Port of the runtime (webhooks, sandbox phone, agent workspace).")
@click.option("--designer-port", default=5001, show_default=True, type=int)
def up(host: str, port: int, designer_port: int) -> None:
    """Start the runtime, its sender and the designer, with the example topics loaded."""
    import designer
    from engine.outbound import is_loopback_name
    from webhook import create_app, get_runtime
    from webhook.commands import _load_examples
    from webhook.worker import Worker

    sandbox = not os.environ.get("PARLEY_TWILIO_AUTH_TOKEN")
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    database = os.environ.setdefault("PARLEY_DATABASE",
                                     str(instance_folder() / "parley.sqlite"))
    if sandbox:
        if not is_loopback_name(host):
            raise click.ClickException(
                f"the sandbox only listens on this machine (127.0.0.1), not on {host}: its "
                "phone page needs no password.")
        sandbox_environment(os.environ, url=f"http://{shown}:{port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        runtime = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = get_runtime(runtime).settings
    _load_examples(settings.database)
    designer_app = designer.create_app()
    Worker(runtime).start_thread()
    designer_server = make_server(host, designer_port, designer_app, threaded=True)
    threading.Thread(target=designer_server.serve_forever, name="designer",
                     daemon=True).start()
    runtime_server = make_server(host, port, runtime, threaded=True)
    freeze_start_up_objects()  # as a gunicorn worker does (webhook/wsgi.py)

    click.echo("")
    click.echo(f"Parley is up, on the database {database}")
    click.echo(f"  designer         http://{shown}:{designer_port}/")
    click.echo(f"  agent workspace  http://{shown}:{port}/agent/")
    if settings.sandbox:
        logins = _ensure_sandbox_logins(settings.database, Path(runtime.instance_path))
        click.echo(f"  sandbox phone    http://{shown}:{port}/sandbox  (text the bot here)")
        click.echo(f"  sign in as admin / {logins['admin']} (designer; supervisor in the "
                   f"workspace) and agent / {logins['agent']} (workspace)")
    else:
        click.echo(f"  Twilio webhook   {settings.public_url}/twilio/sms")
    click.echo("Press Ctrl+C to stop.\n")
    try:
        runtime_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        designer_server.shutdown()
