"""What Parley writes to disk is the owner's alone (folders 0700, files 0600), whatever the
umask: the database and its -wal, -shm and lock files, the instance folder and its secrets,
and users' photos."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from engine.store import open_store
from parley.up import sandbox_environment
from tests.support.images import png
from webhook import create_app
from webhook.worker import Worker

PHONE = "+15550100001"


@pytest.fixture(autouse=True)
def permissive_umask():
    """The usual umask: left to it, files come out 0644 and folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestDatabase:
    def test_the_database_its_log_and_its_lock_files_are_owner_only(self, tmp_path):
        database = tmp_path / "data" / "parley.sqlite"
        store = open_store(database)
        with store.write():
            store.set_setting("touched", "1")
        try:
            names = ["parley.sqlite", "parley.sqlite-wal", "parley.sqlite-shm",
                     "parley.sqlite-writer", "parley.sqlite.migrate.lock"]
            assert {name: mode(database.parent / name) for name in names} == dict.fromkeys(
                names, 0o600)
            assert mode(database.parent) == 0o700
        finally:
            store.close()

    def test_a_database_left_world_readable_is_made_owner_only_when_opened(self, tmp_path):
        database = tmp_path / "parley.sqlite"
        open_store(database).close()
        database.chmod(0o644)
        open_store(database).close()
        assert mode(database) == 0o600


class TestInstance:
    def test_the_instance_folder_and_its_secrets_are_owner_only(self, tmp_path):
        instance = tmp_path / "instance"
        sandbox_environment({"PARLEY_INSTANCE_PATH": str(instance)}, url="http://localhost")
        create_app({"INSTANCE_PATH": str(instance), "SANDBOX": True})
        assert mode(instance) == 0o700
        files = sorted(path.name for path in instance.iterdir() if path.is_file())
        assert "data_key" in files and "pin_pepper" in files and "sandbox_token" in files
        assert {name: mode(instance / name) for name in files} == dict.fromkeys(files, 0o600)

    def test_an_instance_folder_left_open_is_closed(self, tmp_path):
        instance = tmp_path / "instance"
        instance.mkdir(mode=0o755)
        create_app({"INSTANCE_PATH": str(instance), "SANDBOX": True})
        assert mode(instance) == 0o700


class TestPhotos:
    def test_uploads_and_fetched_photos_live_in_the_owner_only_database(self, tmp_path):
        instance = tmp_path / "instance"
        app = create_app({"INSTANCE_PATH": str(instance), "SANDBOX": True})
        photo = png()
        response = app.test_client().post(
            "/sandbox/send", headers={"X-Parley-Sandbox": "1"},
            data={"phone": PHONE, "body": "", "image": (io.BytesIO(photo), "label.png")})
        assert response.status_code == 200
        Worker(app).drain()  # fetches the photo, as `parley worker`
        store = open_store(instance / "parley.sqlite")
        try:
            [item] = store.message_by_sid(response.json["sid"])["media"]
            assert store.media_file(item["file"])["data"] == photo
        finally:
            store.close()
        # No copy beside the database: the photos are the database's, 0600 like it.
        written = [path for path in instance.rglob("*") if path.is_file()
                   and photo in path.read_bytes() and not path.name.startswith("parley.sqlite")]
        assert written == []
        assert mode(instance / "parley.sqlite") == 0o600
