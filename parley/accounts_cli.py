"""`parley users ...` (accounts, PINs, authenticators, phone links).

The top layer: imports engine and webhook.config. parley.cli registers `users` on its `main`
group (`parley notify` is parley/notify_cli.py). PINs are read from a hidden prompt (never from
the command line, where shell history and `ps` would keep them) and hashed with
PARLEY_PIN_PEPPER, or in the sandbox with the pepper `parley up` keeps in the instance folder.
Authenticator secrets are sealed with PARLEY_DATA_KEY, or in the sandbox with the key kept
beside its database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from engine import accounts, sealing
from engine.commandline import database_option
from engine.errors import ConfigError, ParleyError
from engine.instance import instance_folder, sandbox_pin_pepper
from engine.quiet_hours import is_time_zone
from engine.secret_check import check_secret
from engine.store import Store, open_store
from webhook.config import flag

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def opened(database: str, *, sealer: sealing.Sealer | None = None) -> Iterator[Store]:
    """The database, with Parley's errors shown as one clear line."""
    store = open_store(database, sealer=sealer)
    try:
        yield store
    except ParleyError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def pepper() -> bytes | None:
    """PARLEY_PIN_PEPPER, else the sandbox's pepper that `parley up` keeps in the instance
    folder (the runtime it starts hashes with that one)."""
    configured = os.environ.get("PARLEY_PIN_PEPPER")
    if configured:
        try:  # a PIN hashed with a weak pepper would be refused by the runtime anyway
            check_secret("PIN_PEPPER", configured, sandbox=flag(os.environ.get("PARLEY_SANDBOX"),
                                                                  "SANDBOX"))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    value = configured or sandbox_pin_pepper(instance_folder(), create=False)
    return accounts.pepper_bytes(value)


def data_sealer(database: str) -> sealing.Sealer:
    """PARLEY_DATA_KEY, else the sandbox's key beside the database. Refused where a Twilio
    token is set (a real deployment), so a forgotten variable never seals with a stray key."""
    text = os.environ.get(sealing.ENV, "").strip()
    if text:
        return sealing.Sealer.from_text(text)
    if os.environ.get("PARLEY_TWILIO_AUTH_TOKEN", "").strip():
        raise click.ClickException(
            f"{sealing.ENV} is not set: set it to the runtime's data key, which seals "
            "authenticator secrets outside the database.")
    return sealing.local_sealer(Path(database).parent)


@click.group()
def users() -> None:
    """Users with accounts: add them, set their PIN, enrol an authenticator, link phones."""


@users.command("add")
@click.argument("user_name")
@click.option("--display-name", help="Name the bot greets them by (default: the user name).")
@click.option("--email")
@click.option("--mobile", help="Mobile number in E.164 form, e.g. +15550100001.")
@database_option
def add(user_name: str, display_name: str | None, email: str | None, mobile: str | None,
        database: str) -> None:
    """Add a user with an account."""
    with opened(database) as store, store.write():
        user_id = store.add_account(user_name, display_name=display_name, email=email,
                                    mobile=accounts.check_mobile(mobile))
    click.echo(f"added {user_name} (id {user_id})")


@users.command("list")
@database_option
def list_users(database: str) -> None:
    """List users: contact details, what is set up, linked phones. Never a secret."""
    with opened(database) as store:
        rows = store.list_accounts()
    if not rows:
        click.echo("no users")
    for row in rows:
        setup = ", ".join(name for name, on in (("PIN", row["has_pin"]),
                                                ("authenticator", row["has_totp"])) if on)
        click.echo(f"{row['id']:>4}  {row['user_name']}  {row['display_name'] or ''}  "
                   f"{row['email'] or '-'}  {row['mobile'] or '-'}  "
                   f"[{setup or 'no factors'}]  notifications "
                   f"{'on' if row['notifications'] else 'off'}  "
                   f"linked: {row['linked_phones'] or '-'}")


@users.command("set-pin")
@click.argument("user_name")
@database_option
def set_pin(user_name: str, database: str) -> None:
    """Set a user's soft PIN (4 to 8 digits), asked for twice without echo."""
    pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    with opened(database) as store, store.write():
        user = accounts.require_user(store, user_name)
        accounts.set_pin(store, user["id"], pin.strip(), pepper=pepper())
    click.echo(f"PIN set for {user_name}")


@users.command("enroll-totp")
@click.argument("user_name")
@click.option("--png", "png_path", type=click.Path(dir_okay=False),
              help="Also write the QR code to this PNG file.")
@click.option("--qr/--no-qr", default=True, show_default=True,
              help="Draw the QR code in the terminal.")
@database_option
def enroll_totp(user_name: str, png_path: str | None, qr: bool, database: str) -> None:
    """Give a user a new authenticator secret; prints the otpauth:// URI and a QR code.

    Scan it with Google Authenticator (or any RFC 6238 app). Codes of an earlier enrolment
    stop working.
    """
    issuer = os.environ.get("PARLEY_PROGRAM_NAME") or "Parley"
    with opened(database, sealer=data_sealer(database)) as store, store.write():
        enrolment = accounts.enrol_totp(store, accounts.require_user(store, user_name),
                                        issuer=issuer)
    click.echo(enrolment.uri)
    if qr:
        click.echo(accounts.qr_text(enrolment.uri))
    if png_path:
        Path(png_path).write_bytes(accounts.qr_png(enrolment.uri))
        click.echo(f"wrote {png_path}")
    click.echo(f"Secret (to type in by hand): {enrolment.secret}")


@users.command("remove")
@click.argument("user_name")
@click.confirmation_option(prompt="Remove this user and unlink their phones?")
@database_option
def remove(user_name: str, database: str) -> None:
    """Remove a user; their phone links go too."""
    with opened(database) as store, store.write():
        store.remove_user(accounts.require_user(store, user_name)["id"])
    click.echo(f"removed {user_name}")


@users.command("link")
@click.argument("user_name")
@click.argument("phone")
@database_option
def link(user_name: str, phone: str, database: str) -> None:
    """Link PHONE to a user's account without the SMS check (an administrator's act)."""
    with opened(database) as store, store.write():
        user = accounts.require_user(store, user_name)
        store.link_phone(accounts.check_mobile(phone), user["id"])
    click.echo(f"linked {phone} to {user_name}")


@users.command("unlink")
@click.argument("phone")
@database_option
def unlink(phone: str, database: str) -> None:
    """Remove the link of PHONE to an account."""
    with opened(database) as store, store.write():
        removed = store.unlink_phone(phone)
    if not removed:
        raise click.ClickException(f"{phone} is not linked to an account")
    click.echo(f"unlinked {phone}")


@users.command("time-zone")
@click.argument("user_name")
@click.argument("zone")
@database_option
def time_zone(user_name: str, zone: str, database: str) -> None:
    """Set where a user is (an IANA zone such as America/Los_Angeles, or "none"): their
    notifications wait for the sending window in that zone (PARLEY_QUIET_HOURS)."""
    chosen = None if zone.lower() == "none" else zone
    if chosen is not None and not is_time_zone(chosen):
        raise click.ClickException(f"{zone!r} is not an IANA time zone (such as "
                                   "America/Chicago)")
    with opened(database) as store, store.write():
        store.set_user_time_zone(accounts.require_user(store, user_name)["id"], chosen)
    click.echo(f"{user_name}: " + (f"time zone {chosen}" if chosen else
                                   "time zone from their number's area code"))

