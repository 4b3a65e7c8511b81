"""The sandbox's staff (`parley up`): an author who also supervises, and an agent, whose
passwords are kept in the instance folder and survive a restart."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

from engine.store import open_store
from parley.up import _ensure_sandbox_logins


def test_admin_authors_and_supervises_and_agent_answers(database_url, tmp_path):
    logins = _ensure_sandbox_logins(database_url, tmp_path)
    again = _ensure_sandbox_logins(database_url, tmp_path)
    assert again == logins  # a restart keeps the passwords
    store = open_store(database_url)
    try:
        admin, agent = store.staff_member("admin"), store.staff_member("agent")
    finally:
        store.close()
    assert admin["roles"] == ["author", "supervisor"] and agent["roles"] == ["agent"]
    assert check_password_hash(admin["password_hash"], logins["admin"])
    assert check_password_hash(agent["password_hash"], logins["agent"])


def test_an_older_sandbox_admin_gains_the_supervisor_role_and_keeps_its_password(
        database_url, tmp_path):
    (tmp_path / "sandbox-logins.txt").write_text("admin old-password\n", encoding="utf-8")
    store = open_store(database_url)
    with store.write():
        store.add_author("admin", generate_password_hash("old-password"))
    store.close()
    logins = _ensure_sandbox_logins(database_url, tmp_path)
    store = open_store(database_url)
    try:
        admin = store.staff_member("admin")
    finally:
        store.close()
    assert logins["admin"] == "old-password"
    assert admin["roles"] == ["author", "supervisor"]
    assert check_password_hash(admin["password_hash"], "old-password")
