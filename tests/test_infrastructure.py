"""The test tooling itself works: Prism as Twilio, Playwright on chromium, Graphviz, PostgreSQL."""

import http.server
import subprocess
import threading

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from devtools.prism import twilio_client as make_twilio_client
from tests.support.browser import screenshot_dir

TO, FROM = "+15005550006", "+15005550001"


def test_prism_accepts_valid_message_create(prism, twilio_client):
    mark = prism.log_size()
    message = twilio_client.messages.create(to=TO, from_=FROM, body="hi")
    assert message.sid.startswith("SM")
    # It truly went to Prism, and Prism saw exactly what the client sent.
    [request] = prism.wait_for_requests(1, since=mark)
    assert request.method == "POST"
    assert request.path.endswith(f"/Accounts/{twilio_client.account_sid}/Messages.json")
    assert request.form == {"To": [TO], "From": [FROM], "Body": ["hi"]}
    assert request.ok and request.status == 201


def test_prism_refuses_create_without_to(prism, twilio_client):
    mark = prism.log_size()
    with pytest.raises(TwilioRestException) as info:
        twilio_client.messages.create(to=None, from_=FROM, body="hi")
    assert info.value.status == 422
    [request] = prism.wait_for_requests(1, since=mark)
    assert not request.ok
    assert any("'To'" in e for e in request.errors), request.errors


def test_prism_checks_status_callback_and_messaging_service(prism, twilio_client):
    # Prism only validates StatusCallback as a URI; it never calls it.
    mark = prism.log_size()
    twilio_client.messages.create(
        to=TO,
        messaging_service_sid="MG" + "0" * 32,
        body="hi",
        status_callback="https://example.com/cb",
    )
    [request] = prism.wait_for_requests(1, since=mark)
    assert request.form["StatusCallback"] == ["https://example.com/cb"]
    with pytest.raises(TwilioRestException) as info:
        twilio_client.messages.create(to=TO, from_=FROM, body="hi", status_callback="not a url")
    assert info.value.status == 422
    with pytest.raises(TwilioRestException):
        twilio_client.messages.create(to=TO, messaging_service_sid="MG-bogus", body="hi")


def test_prism_restarts_on_same_port(prism):
    client = make_twilio_client(prism)
    port = prism.port
    prism.stop()
    try:
        with pytest.raises(requests.ConnectionError):  # an outage
            client.messages.create(to=TO, from_=FROM, body="during outage")
    finally:
        prism.start()
    assert prism.port == port
    assert client.messages.create(to=TO, from_=FROM, body="after").sid.startswith("SM")


PAGE = b"""<!doctype html><html><head><title>Parley test page</title></head>
<body style="font-family: sans-serif"><h1 id="greeting">Hello from Parley</h1></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_chromium_renders_local_page_and_screenshots(page, local_site):
    page.goto(local_site)
    assert page.title() == "Parley test page"
    assert page.locator("#greeting").inner_text() == "Hello from Parley"
    shot = screenshot_dir() / "infrastructure-local-page.png"
    shot.unlink(missing_ok=True)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 1000


def test_graphviz_dot_runs():
    result = subprocess.run(["dot", "-V"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "graphviz" in (result.stdout + result.stderr).lower()
    svg = subprocess.run(
        ["dot", "-Tsvg"],
        input="digraph { a -> b }",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "<svg" in svg


def test_postgres_server_is_real_and_databases_are_separate(postgres):
    import psycopg

    first = postgres.create_database("infrastructure_a")
    second = postgres.create_database("infrastructure_b")
    with psycopg.connect(first, autocommit=True) as conn:
        assert conn.execute("SHOW server_version").fetchone()[0].split(".")[0].isdigit()
        conn.execute("CREATE TABLE t (x int)")
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone()[0] is None
