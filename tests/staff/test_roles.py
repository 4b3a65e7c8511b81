"""Roles gate each app: the designer lets in authors, the workspace agents and supervisors,
whatever the password; one account signs in to both where it holds both roles."""

from __future__ import annotations

import pytest

from engine.signin import STAFF_WRONG
from tests.staff.conftest import is_signed_in, sign_in

ADMITTED = {"designer": {"ada", "sam"}, "workspace": {"beth", "sam", "sue"}}


class TestEachAppAdmitsItsRoles:
    @pytest.mark.parametrize("which", ["designer", "workspace"])
    def test_only_the_apps_roles_sign_in_with_the_right_password(self, apps, which):
        for name in ("ada", "beth", "sam", "sue"):
            client, response = sign_in(apps[which], which, name)
            if name in ADMITTED[which]:
                assert response.status_code == 302, (name, response.text)
                assert is_signed_in(client, which), name
            else:
                # Refused exactly as an unknown name or a wrong password is.
                assert response.status_code == 401, name
                assert STAFF_WRONG in response.text
                assert not is_signed_in(client, which), name

    def test_one_account_with_both_roles_uses_one_password_in_both(self, apps, store):
        designer, _ = sign_in(apps["designer"], "designer", "sam")
        workspace, _ = sign_in(apps["workspace"], "workspace", "sam")
        assert is_signed_in(designer, "designer") and is_signed_in(workspace, "workspace")
        assert store.staff_member("sam")["roles"] == ["author", "agent"]


class TestRoleChanges:
    def test_taking_a_role_away_ends_that_apps_sessions_only(self, apps, store):
        designer, _ = sign_in(apps["designer"], "designer", "sam")
        workspace, _ = sign_in(apps["workspace"], "workspace", "sam")
        with store.write():
            assert store.change_staff_roles("sam", remove=["author"]) == ["agent"]
        assert not is_signed_in(designer, "designer")
        assert is_signed_in(workspace, "workspace")
        _client, response = sign_in(apps["designer"], "designer", "sam")
        assert response.status_code == 401

    def test_a_granted_role_opens_the_other_app(self, apps, store):
        with store.write():
            store.change_staff_roles("ada", add=["supervisor"])
        client, response = sign_in(apps["workspace"], "workspace", "ada")
        assert response.status_code == 302 and is_signed_in(client, "workspace")

    def test_a_session_of_one_app_does_not_open_the_other(self, apps):
        """The cookie of each app holds its own token: a designer session's token put in the
        workspace's cookie is not a workspace session."""
        designer, _ = sign_in(apps["designer"], "designer", "sam")
        with designer.session_transaction() as session:
            token = session["token"]
        workspace = apps["workspace"].test_client()
        with workspace.session_transaction() as session:
            session["agent_token"] = token
        assert not is_signed_in(workspace, "workspace")

    def test_removing_an_account_ends_its_sessions(self, apps, store):
        workspace, _ = sign_in(apps["workspace"], "workspace", "beth")
        with store.write():
            assert store.remove_staff("beth")
            assert not store.remove_staff("beth")
        assert not is_signed_in(workspace, "workspace")
        assert [m["user_name"] for m in store.list_staff(role="agent")] == ["sam"]
