"""Serving for real: gunicorn with several workers, the sender as its own process, and the
single-command local sandbox."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.request_validator import RequestValidator

from devtools.prism import free_port
from engine.store import Store, open_store
from tests.support.serving import environment, stop, wait_until_up
from tests.webhook.conftest import ROOT, TOKEN, Twilio, load_examples, new_sid, runtime_config
from webhook.outbox import enqueue

PUBLIC = "https://sms.example.com"


@pytest.fixture
def started():
    processes = []

    def start(args: list[str], env: dict) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def signed_post(base: str, params: dict) -> requests.Response:
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms", params)
    return requests.post(f"{base}/twilio/sms", data=params, timeout=30,
                         headers={"X-Twilio-Signature": signature})


def test_gunicorn_workers_and_the_sender_process(tmp_path, database_url, prism, started):
    config = runtime_config(tmp_path, DATABASE=database_url,
                            TWILIO_API_BASE_URL=prism.base_url, WORKER_POLL_SECONDS=0.1)
    del config["OUTBOX_BACKOFF_SECONDS"]
    store = open_store(config["DATABASE"])
    load_examples(store)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(config, PARLEY_BIND=f"127.0.0.1:{port}", PARLEY_WORKERS="3")
    web = started([sys.executable, "-m", "gunicorn", "-c", "webhook/gunicorn.conf.py",
                   "webhook.wsgi:app"], env)
    wait_until_up(f"{base}/healthz", web)

    twilio = Twilio(None)
    messages = [twilio.message_params(f"+1555010{n:04d}", "hello") for n in range(6)]
    repeated = twilio.message_params("+15550109999", "hello", sid=new_sid())
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda p: signed_post(base, p), messages + [repeated] * 4))
    assert {a.status_code for a in answers} == {200}
    assert all("What can I help you with?" in a.text for a in answers)
    assert len({a.text for a in answers[len(messages):]}) == 1
    assert store.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'"
                              ).fetchone()[0] == 7
    forged = dict(messages[0], MessageSid=new_sid(), Body="AGENT")
    assert requests.post(f"{base}/twilio/sms", data=forged, timeout=10).status_code == 403

    with store.write():
        enqueue(store, to="+15550100000", body="Beth here: your case is resolved.")
    mark = prism.log_size()
    sender = started([sys.executable, "-c", "from webhook.commands import worker; worker()"],
                     environment(config))
    deadline = time.monotonic() + 20
    while store.outbox_messages()[0]["status"] != "sent":
        assert time.monotonic() < deadline and sender.poll() is None
        time.sleep(0.1)
    [request] = prism.wait_for_requests(1, since=mark)
    assert request.ok and request.form["Body"] == ["Beth here: your case is resolved."]
    assert stop(sender) == 0
    assert stop(web) == 0
    store.close()


def test_the_single_command_sandbox(tmp_path, started):
    """SQLite only: `parley serve` with no settings is the local sandbox on its SQLite file."""
    port = free_port()
    env = environment({"INSTANCE_PATH": tmp_path / "instance"})
    local = started([sys.executable, "-c", "from webhook.commands import serve; serve()",
                     "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/healthz", local)
    assert requests.get(f"{base}/sandbox", timeout=5).status_code == 200
    response = requests.post(f"{base}/sandbox/send", data={"phone": "+15550100001",
                                                           "body": "router on fire"},
                             headers={"X-Parley-Sandbox": "1"}, timeout=10)
    assert response.status_code == 200
    thread = requests.get(f"{base}/sandbox/thread", params={"phone": "+15550100001"},
                          timeout=5).json()["messages"]
    assert thread[1]["body"].startswith("Unplug the router now")
    assert stop(local) in (0, -signal.SIGTERM)
    store = Store(tmp_path / "instance" / "parley.sqlite")
    assert len(store.published_topics()) == len(list((ROOT / "topics").glob("*.json")))
    store.close()


def test_a_serving_process_freezes_its_start_up_objects(tmp_path):
    """webhook/wsgi.py (what gunicorn's workers import) leaves the objects of start-up to the
    permanent generation, so the collector's walks per message skip them (webhook/startup.py)."""
    env = environment({"SANDBOX": "1", "DATABASE": tmp_path / "parley.sqlite"})
    shown = subprocess.run(
        [sys.executable, "-c", "import gc, webhook.wsgi; print(gc.get_freeze_count())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert int(shown.stdout.split()[-1]) > 10_000
