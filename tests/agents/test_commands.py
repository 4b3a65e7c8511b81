"""`parley agents`, kept as a deprecated alias of `parley staff` with the role agent."""

from __future__ import annotations

from werkzeug.security import check_password_hash


class TestAgentsCommand:
    def test_add_prompts_for_the_password_and_hashes_it(self, cli, store):
        result = cli("agents", "add", "ann", "--display-name", "Ann Smith",
                     input="a long password\na long password\n")
        assert result.exit_code == 0, result.output
        assert "staff 'ann' created with roles agent" in result.output
        assert "deprecated: use `parley staff add NAME --roles agent`" in result.stderr
        agent = store.staff_member("ann")
        assert agent["roles"] == ["agent"]
        assert agent["display_name"] == "Ann Smith"
        assert agent["password_hash"] != "a long password"
        assert check_password_hash(agent["password_hash"], "a long password")

    def test_a_taken_name_and_a_short_password_are_refused(self, cli):
        assert "already exists" in cli("agents", "add", "beth", "--password", "long enough").output
        result = cli("agents", "add", "zed", "--password", "short")
        assert result.exit_code == 1 and "at least 8 characters" in result.output

    def test_list_shows_every_agent(self, cli, beth):
        lines = cli("agents", "list").stdout.splitlines()
        assert [line.split("\t")[:3] for line in lines] == [
            ["beth", "agent", "Beth Anglin"], ["fred", "agent", "Fred Agent"]]
        assert lines[1].split("\t")[3] == "never signed in"
        assert lines[0].split("\t")[4] != "-"  # Beth's session was seen

    def test_set_password_of_an_unknown_agent_fails(self, cli):
        result = cli("agents", "set-password", "nobody", "--password", "long enough")
        assert result.exit_code == 1 and "no staff member 'nobody'" in result.output

    def test_remove_ends_the_agents_sessions(self, cli, beth, store):
        result = cli("agents", "remove", "beth", "--yes")
        assert result.exit_code == 0, result.output
        assert store.staff_member("beth") is None
        assert beth.get("/agent/").status_code == 302

    def test_remove_asks_first(self, cli, store):
        result = cli("agents", "remove", "fred", input="n\n")
        assert result.exit_code == 1 and store.staff_member("fred") is not None
