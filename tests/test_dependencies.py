"""The lock file: every package pinned with hashes, in step with pyproject.toml."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = (ROOT / "requirements.lock").read_text(encoding="utf-8")
PINS = {name.lower(): Version(pinned)
        for name, pinned in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", LOCK, re.MULTILINE)}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in
            project["dependencies"] + project["optional-dependencies"]["dev"]]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class TestLockFile:
    def test_every_pin_has_hashes(self):
        entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n", 2)[2])
        pinned_lines = re.findall(r"^[A-Za-z0-9_.\-]+==", LOCK, re.MULTILINE)
        assert len(entries) == len(pinned_lines) > 20
        for entry in entries:
            assert "--hash=sha256:" in entry, entry.splitlines()[0]

    def test_every_declared_package_is_locked_within_its_range(self):
        pins = {normalized(name): pinned for name, pinned in PINS.items()}
        for requirement in declared():
            name = normalized(requirement.name)
            assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: " \
                                 "run ./scripts/lock"
            assert requirement.specifier.contains(pins[name], prereleases=True), \
                f"{name}=={pins[name]} is outside {requirement.specifier}: run ./scripts/lock"

    def test_floors_past_known_sandbox_escapes_and_leaks(self):
        floors = {normalized(r.name): r.specifier for r in declared()}
        assert not floors["jinja2"].contains("3.1.5")
        assert not floors["requests"].contains("2.32.3")

    def test_the_environment_runs_the_locked_versions(self):
        for name in ("jinja2", "requests", "flask", "twilio", "cryptography"):
            assert Version(version(name)) == PINS[name], f"{name}: run ./scripts/setup"
