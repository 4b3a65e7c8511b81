"""`parley up`, what the README's start command runs: everything answers, examples loaded."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def parley_up(tmp_path_factory):
    """One `parley up` for the module: its tests only read what it serves (a sign-in adds
    nothing another test looks at)."""
    tmp_path = tmp_path_factory.mktemp("parley-up")
    runtime_port, designer_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env["PARLEY_DATABASE"] = str(tmp_path / "parley.sqlite")
    process = subprocess.Popen(
        [sys.executable, "-m", "parley", "up", "--port", str(runtime_port),
         "--designer-port", str(designer_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl+C" in line:
            break
    yield runtime_port, designer_port, "".join(lines)
    process.terminate()
    process.wait(timeout=20)


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


class TestStart:
    def test_runtime_sandbox_designer_and_workspace_all_answer(self, parley_up, tmp_path):
        runtime_port, designer_port, output = parley_up
        assert "Loaded 9 example topics" in output, output
        assert get(f"http://127.0.0.1:{runtime_port}/healthz")[0] == 200
        status, phone = get(f"http://127.0.0.1:{runtime_port}/sandbox")
        assert status == 200
        # Each of Parley's numbers is a thread: the bot's, and the one notifications come from.
        assert "+15550009999" in phone and "+15550009998" in phone
        assert get(f"http://127.0.0.1:{runtime_port}/agent/login")[0] == 200
        status, page = get(f"http://127.0.0.1:{designer_port}/login")
        assert status == 200 and "<form" in page
        logins = re.search(r"sign in as admin / (\S+) \(designer; supervisor in the workspace\)"
                           r" and agent / (\S+) \(workspace\)", output)
        assert logins, output

    def test_the_printed_designer_login_works(self, parley_up):
        _runtime_port, designer_port, output = parley_up
        password = re.search(r"sign in as admin / (\S+) ", output).group(1)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(f"http://127.0.0.1:{designer_port}/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        assert token, page
        form = urllib.parse.urlencode({"csrf_token": token.group(1), "user_name": "admin",
                                       "password": password}).encode()
        after = opener.open(f"http://127.0.0.1:{designer_port}/login", data=form, timeout=10)
        listing = after.read().decode()
        assert "I have an issue" in listing and "My router is on fire" in listing
