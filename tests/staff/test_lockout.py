"""The sign-in limits with one account for two apps: five wrong passwords lock the user name
for 15 minutes, wherever they were typed, and a refused role counts as a wrong password."""

from __future__ import annotations

from engine.signin import STAFF_LOCKED
from tests.staff.conftest import PASSWORD, is_signed_in, sign_in


class TestOneCountPerAccount:
    def test_wrong_passwords_at_the_workspace_lock_the_name_in_the_designer(self, apps):
        for _ in range(5):
            _client, response = sign_in(apps["workspace"], "workspace", "sam", "guess")
            assert response.status_code == 401
        client, refused = sign_in(apps["designer"], "designer", "sam", PASSWORD)
        assert refused.status_code == 401 and STAFF_LOCKED in refused.text
        assert not is_signed_in(client, "designer")

    def test_a_refused_role_counts_as_a_failure(self, apps):
        """An author at the workspace learns nothing, and guessing there is throttled too."""
        for _ in range(5):
            _client, response = sign_in(apps["workspace"], "workspace", "ada", PASSWORD)
            assert response.status_code == 401 and STAFF_LOCKED not in response.text
        _client, refused = sign_in(apps["designer"], "designer", "ada", PASSWORD)
        assert STAFF_LOCKED in refused.text

    def test_four_failures_and_a_sign_in_start_the_count_again(self, apps):
        for _ in range(4):
            sign_in(apps["designer"], "designer", "sam", "guess")
        assert sign_in(apps["workspace"], "workspace", "sam")[1].status_code == 302
        for _ in range(4):
            sign_in(apps["designer"], "designer", "sam", "guess")
        client, response = sign_in(apps["designer"], "designer", "sam")
        assert response.status_code == 302 and is_signed_in(client, "designer")

    def test_a_locked_name_does_not_lock_another(self, apps):
        for _ in range(5):
            sign_in(apps["workspace"], "workspace", "beth", "guess")
        client, response = sign_in(apps["workspace"], "workspace", "sue")
        assert response.status_code == 302 and is_signed_in(client, "workspace")
