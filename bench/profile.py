"""Profile the webhook's hot path: `python -m bench.profile [--requests N] [--sort tottime]`.

Imports bench and webhook. Plays the load generator's signed requests (the same script of
new conversations, choices, free text and yes/no) through the runtime under the Flask test
client, with cProfile on, and prints the functions that take the most time. No server, no
network: what it shows is the handler itself, SQLite included.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import re
import tempfile
import time
from pathlib import Path

from bench import loadgen
from bench.webhook_load import SCRIPT_LENGTH, parley_database
from engine.sealing import local_key

PUBLIC_URL = "http://127.0.0.1:8000"
TOKEN = "profile-token"


def signed_requests(*, phones: int, first_phone: int = 0, run: int = 0) -> list[tuple[bytes, str]]:
    """(form body, signature) for every message, phones taking turns as in a real load."""
    queues = loadgen.prepare(PUBLIC_URL, auth_token=TOKEN, phones=phones,
                             per_phone=SCRIPT_LENGTH, first_phone=first_phone, run=run)
    out = []
    for step in range(SCRIPT_LENGTH):
        for queue in queues.values():
            head, body = queue[step].raw.split(b"\r\n\r\n", 1)
            out.append((body, re.search(rb"X-Twilio-Signature: (\S+)", head)[1].decode()))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime"))
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--postgres", action="store_true",
                        help="on a throwaway PostgreSQL server instead of a SQLite file")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-profile-"))
        if args.postgres:
            from devtools.postgres import PostgresServer
            from engine import sealing

            server = stack.enter_context(_started(PostgresServer(durable=True)))
            database, key = server.create_database("profile"), sealing.new_key()
            parley_database(database, log=Path(folder) / "setup.log", env={sealing.ENV: key})
        else:
            database = Path(folder) / "parley.sqlite"
            parley_database(database, log=Path(folder) / "setup.log")
            key = local_key(database.parent)
        profile(args, database, key, Path(folder))


@contextlib.contextmanager
def _started(server):
    try:
        yield server.start()
    finally:
        server.stop()


def webhook_app(database: Path | str, key: str, folder: Path):
    """The runtime on `database` as the load generator's requests expect it (their token,
    account, number and URL), for the Flask test client."""
    from webhook import create_app

    return create_app({
        "DATABASE": str(database), "INSTANCE_PATH": str(folder / "instance"),
        "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": loadgen.ACCOUNT_SID,
        "SMS_NUMBER": loadgen.TO_NUMBER, "PUBLIC_URL": PUBLIC_URL, "PIN_PEPPER": "p" * 32,
        "DATA_KEY": key,
    })


def post_all(client, items: list[tuple[bytes, str]]) -> None:
    """Post signed requests (signed_requests) to the webhook; each must be answered 200."""
    for body, signature in items:
        response = client.post("/twilio/sms", data=body,
                               content_type="application/x-www-form-urlencoded",
                               headers={"X-Twilio-Signature": signature})
        if response.status_code != 200:
            raise RuntimeError(f"the webhook answered {response.status_code}")


def profile(args: argparse.Namespace, database: Path | str, key: str, folder: Path) -> None:
    """Play the requests through the runtime on `database`; print the profile."""
    client = webhook_app(database, key, folder).test_client()
    warm = signed_requests(phones=20, first_phone=9_000_000, run=1)
    timed = signed_requests(phones=max(1, args.requests // SCRIPT_LENGTH))

    def play(items: list[tuple[bytes, str]]) -> None:
        post_all(client, items)

    play(warm)
    started = time.perf_counter()
    play(timed[: len(timed) // 2])
    plain = (time.perf_counter() - started) / (len(timed) // 2)
    profiler = cProfile.Profile()
    profiler.enable()
    play(timed[len(timed) // 2:])
    profiler.disable()
    print(f"{plain * 1e3:.2f} ms per request without the profiler "
          f"({len(timed) // 2} requests)\n")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.limit)


if __name__ == "__main__":
    main()
