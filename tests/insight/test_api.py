"""The designer's Insight API: JSON and CSV behind the sign-in, on both databases."""

from __future__ import annotations

import json

import pytest
from werkzeug.security import generate_password_hash

from designer import create_app
from engine.sample import SAMPLE_RECORDS
from engine.transcripts import run_transcript
from tests.designer.conftest import AUTHOR, PASSWORD, Author
from tests.insight.conftest import DAY_1, DAY_2, ORDER_V2, SECRETS

PERIOD = f"from={DAY_1}&to={DAY_2}"


@pytest.fixture
def app(tmp_path, database_url, scripted, store):
    app = create_app({
        "SECRET_KEY": "test-session-key-0123456789abcdef0123",
        "DESIGNER_PUBLIC_URL": "http://127.0.0.1",
        "DATABASE": database_url,
        "SIMULATOR_DIR": str(tmp_path / "simulator"),
    })
    with store.write():
        store.add_author(AUTHOR, generate_password_hash(PASSWORD), display_name="Ada Lovelace")
    return app


@pytest.fixture
def author(app) -> Author:
    return Author(app.test_client())


class TestSignIn:
    def test_every_endpoint_wants_a_signed_in_author(self, app):
        client = app.test_client()
        for url in ("/insight/api/overview", "/insight/api/unanswered",
                    "/insight/api/conversations", "/insight/api/conversations/1",
                    "/insight/api/topics/order/versions/1"):
            response = client.get(url, headers={"Accept": "application/json"})
            assert response.status_code == 401, url
        assert client.post("/insight/api/conversations/1/test", json={}).status_code in \
            (400, 401)


class TestFigures:
    def test_overview_json_and_csv(self, author):
        data = author.get(f"/insight/api/overview?{PERIOD}").json
        assert data["current"]["conversations"] == 10
        assert data["current"]["handoffs"] == {"user_asked": 1, "fallback": 2, "topic": 1,
                                               "error": 1}
        assert [d["day"] for d in data["current"]["days"]] == [DAY_1, DAY_2]
        assert data["previous"]["from"] == "2026-02-28"
        response = author.get(f"/insight/api/overview?{PERIOD}&format=csv")
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        assert response.text.startswith("period,day,conversations,")

    def test_a_bad_period_says_what_to_fix(self, author):
        response = author.get("/insight/api/overview?from=yesterday")
        assert response.status_code == 400
        assert "2026-01-31" in response.json["error"]

    def test_a_topic_version_and_two_side_by_side(self, author):
        data = author.get(f"/insight/api/topics/order/versions/1?{PERIOD}").json
        assert data["started"] == 7
        assert data["nodes"]["kind"]["entered"] == 7
        assert {"from": "kind", "event": "option_0", "to": "pin", "label": "Track",
                "count": 2} in data["transitions"]
        both = author.get(f"/insight/api/topics/order/compare?versions=1,2&{PERIOD}").json
        assert [v["version"] for v in both] == [1, 2]
        assert author.get(f"/insight/api/topics?{PERIOD}").json == {"order": 8, "broken": 1}

    def test_unanswered(self, author):
        items = author.get(f"/insight/api/unanswered?{PERIOD}").json
        assert {"text": "blah #", "count": 1} in items


class TestConversations:
    def test_search_and_open_one(self, author, scripted):
        found = author.get("/insight/api/conversations?outcome=handoff&limit=2").json
        assert len(found["items"]) == 2 and found["next_before"] == found["items"][1]["id"]
        rest = author.get(f"/insight/api/conversations?outcome=handoff&before="
                          f"{found['next_before']}").json
        assert len(rest["items"]) == 3 and rest["next_before"] is None
        conversation_id = scripted.conversations["+15550100001"]
        detail = author.get(f"/insight/api/conversations/{conversation_id}").json
        assert detail["path"][0]["nodes"] == ["kind", "pin", "done"]
        assert author.get("/insight/api/conversations/99999").status_code == 404
        refused = author.get("/insight/api/conversations?outcome=lost")
        assert refused.status_code == 400 and "handoff" in refused.json["error"]

    def test_one_click_makes_a_passing_test_of_the_topic(self, author, scripted, store):
        conversation_id = scripted.conversations["+15550100008"]
        response = author.post(f"/insight/api/conversations/{conversation_id}/test",
                               json={"name": "Tracked"})
        assert response.status_code == 200, response.text
        saved = store.transcript(response.json["id"])
        assert (saved["topic_id"], saved["name"], saved["author"]) == ("order", "Tracked",
                                                                        AUTHOR)
        result = run_transcript(saved["document"], [ORDER_V2], sample_data=SAMPLE_RECORDS)
        assert result.passed, result.mismatch

    def test_no_secret_in_any_answer(self, author, scripted):
        answers = [author.get(f"/insight/api/overview?{PERIOD}").text,
                   author.get(f"/insight/api/unanswered?{PERIOD}").text,
                   author.get("/insight/api/conversations?limit=200").text,
                   author.get("/insight/api/conversations?limit=200&format=csv").text]
        for version in (1, 2):
            answers.append(author.get(f"/insight/api/topics/order/versions/{version}?"
                                      f"{PERIOD}").text)
        for conversation_id in scripted.conversations.values():
            answers.append(author.get(f"/insight/api/conversations/{conversation_id}").text)
            made = author.post(f"/insight/api/conversations/{conversation_id}/test", json={})
            answers.append(json.dumps(made.json))
        text = "\n".join(answers)
        assert "[redacted]" in text
        for secret in SECRETS:
            assert secret not in text
