"""`parley staff` on both databases: add, roles, password, remove, list; and the commands it
replaced (`parley designer-user`, `parley agents`), kept as deprecated aliases."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash

from parley.cli import main
from tests.staff.conftest import is_signed_in, sign_in


@pytest.fixture
def parley(apps, database_url):
    """Run `parley ...` on the test's database; returns click's Result."""

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(main, [*args, "--database", database_url], input=input)

    return run


def listed(parley, *options: str) -> dict[str, list[str]]:
    """`parley staff list` as {user name: [roles, display name, last sign-in, last seen]}."""
    result = parley("staff", "list", *options)
    assert result.exit_code == 0, result.output
    return {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines()}


class TestStaffCommand:
    def test_add_then_sign_in_to_each_app_of_the_roles(self, parley, apps, store):
        result = parley("staff", "add", "kim", "--roles", "author,agent", "--display-name",
                        "Kim Lee", "--time-zone", "Europe/Paris",
                        input="a long password\na long password\n")
        assert result.exit_code == 0, result.output
        assert "staff 'kim' created with roles author, agent" in result.output
        member = store.staff_member("kim")
        assert member["time_zone"] == "Europe/Paris"
        assert check_password_hash(member["password_hash"], "a long password")
        assert listed(parley)["kim"][:3] == ["author,agent", "Kim Lee", "never signed in"]
        for which in ("designer", "workspace"):
            client, _ = sign_in(apps[which], which, "kim", "a long password")
            assert is_signed_in(client, which)

    def test_add_refuses_a_taken_name_an_unknown_role_and_no_role(self, parley):
        assert "already exists" in parley("staff", "add", "ada", "--roles", "agent",
                                          "--password", "long enough").output
        unknown = parley("staff", "add", "zed", "--roles", "admin", "--password", "long enough")
        assert unknown.exit_code == 2 and "'admin' is not a role" in unknown.output
        empty = parley("staff", "add", "zed", "--roles", "", "--password", "long enough")
        assert empty.exit_code == 2 and "at least one role" in empty.output
        zone = parley("staff", "add", "zed", "--roles", "agent", "--time-zone", "Mars/Olympus",
                      "--password", "long enough")
        assert zone.exit_code == 2 and "not a known time zone" in zone.output
        assert "zed" not in listed(parley)

    def test_roles_grant_and_take_away(self, parley, apps):
        client, _ = sign_in(apps["designer"], "designer", "ada")
        result = parley("staff", "roles", "ada", "--add", "supervisor", "--remove", "author")
        assert result.exit_code == 0 and result.output == "ada: supervisor\n"
        assert not is_signed_in(client, "designer")
        client, _ = sign_in(apps["workspace"], "workspace", "ada")
        assert is_signed_in(client, "workspace")
        assert parley("staff", "roles", "ada").output == "ada: supervisor\n"
        assert "no staff member 'nobody'" in parley("staff", "roles", "nobody").output

    def test_set_changes_the_name_shown_the_time_zone_and_the_floor(self, parley, store):
        result = parley("staff", "set", "beth", "--display-name", "Beth A.", "--time-zone",
                        "America/Chicago", "--queues", "billing", "--capacity", "2")
        assert result.exit_code == 0, result.output
        beth = store.staff_member("beth")
        assert (beth["display_name"], beth["time_zone"]) == ("Beth A.", "America/Chicago")
        assert (beth["queues"], beth["capacity"]) == ("billing", 2)
        assert parley("staff", "set", "beth").exit_code == 2  # nothing to set
        assert parley("staff", "set", "nobody", "--capacity", "1").exit_code == 1

    def test_list_filters_by_role(self, parley):
        assert sorted(listed(parley, "--role", "agent")) == ["beth", "sam"]
        assert sorted(listed(parley)) == ["ada", "beth", "sam", "sue"]

    def test_password_changes_it_and_ends_every_session(self, parley, apps):
        designer, _ = sign_in(apps["designer"], "designer", "sam")
        workspace, _ = sign_in(apps["workspace"], "workspace", "sam")
        result = parley("staff", "password", "sam", "--password", "a new password")
        assert result.exit_code == 0, result.output
        assert not is_signed_in(designer, "designer")
        assert not is_signed_in(workspace, "workspace")
        client, _ = sign_in(apps["designer"], "designer", "sam", "a new password")
        assert is_signed_in(client, "designer")
        assert parley("staff", "password", "nobody", "--password", "long enough").exit_code == 1

    def test_disable_keeps_the_account_but_ends_its_sessions(self, parley, apps):
        workspace, _ = sign_in(apps["workspace"], "workspace", "beth")
        assert parley("staff", "disable", "beth").exit_code == 0
        assert not is_signed_in(workspace, "workspace")
        assert sign_in(apps["workspace"], "workspace", "beth")[1].status_code == 401
        assert listed(parley)["beth"][-1] == "disabled"
        assert parley("staff", "disable", "beth", "--enable").exit_code == 0
        client, _ = sign_in(apps["workspace"], "workspace", "beth")
        assert is_signed_in(client, "workspace") and listed(parley)["beth"][-1] != "disabled"

    def test_remove_asks_first_then_removes(self, parley):
        assert parley("staff", "remove", "beth", input="n\n").exit_code == 1
        assert "beth" in listed(parley)
        assert parley("staff", "remove", "beth", "--yes").exit_code == 0
        assert "beth" not in listed(parley)


class TestDeprecatedAliases:
    def test_designer_user_and_agents_still_work_and_say_what_replaces_them(self, parley,
                                                                            store):
        made = parley("designer-user", "add", "grace", "--password", "long enough")
        assert made.exit_code == 0, made.output
        assert "use `parley staff add NAME --roles author`" in made.stderr
        agent = parley("agents", "add", "joe", "--password", "long enough")
        assert "use `parley staff add NAME --roles agent`" in agent.stderr
        assert store.staff_member("grace")["roles"] == ["author"]
        assert store.staff_member("joe")["roles"] == ["agent"]
        assert sorted(listed(parley, "--role", "author")) == ["ada", "grace", "sam"]
        agents = parley("agents", "list")
        assert "joe\tagent" in agents.stdout and "ada" not in agents.stdout
        assert parley("agents", "remove", "joe", "--yes").exit_code == 0
        assert store.staff_member("joe") is None
