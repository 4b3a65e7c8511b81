"""Insight's pages in the designer, through Flask's test client on both databases: the
overview, a topic's counts on its diagram (two versions side by side), unanswered texts,
conversation search, one conversation's path and "Make it a test"."""

from __future__ import annotations

import json
import re

from engine.sample import SAMPLE_RECORDS
from engine.transcripts import run_transcript
from tests.designer.conftest import AUTHOR
from tests.insight.conftest import DAY_1, DAY_2, ORDER_V2, SECRETS
from tests.insight.test_api import app, author  # noqa: F401 (fixtures)

PERIOD = f"from={DAY_1}&to={DAY_2}"
PAGES = ("/insight", "/insight/unanswered", "/insight/conversations",
         "/insight/topics/order", "/insight/conversations/1")


def drawn(page: str, script_id: str) -> str:
    """The SVG a page carries in its JSON script `script_id`, with Graphviz's dashes."""
    text = re.search(rf'id="{script_id}">(.*?)</script>', page, re.S).group(1)
    return json.loads(text).replace("&#45;", "-")


def test_every_page_wants_a_signed_in_author(app):  # noqa: F811
    client = app.test_client()
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location, url


def test_overview_shows_each_figure_beside_the_previous_period(author):  # noqa: F811
    page = author.get(f"/insight?{PERIOD}").text
    assert 'id="nav-insight"' in page
    conversations = re.search(r'id="figure-conversations".*?</section>', page, re.S).group(0)
    assert '<span class="now">10</span>' in conversations
    assert "previous period: 0" in conversations
    assert conversations.count('class="bar"') == 2  # one bar a day
    # Its chart has a labelled y-axis and a legend for this period and the previous one.
    assert '<text class="y-label"' in conversations
    assert ">This period</text>" in conversations and ">Previous period</text>" in conversations
    assert re.search(r'id="figure-containment".*?<span class="now">50%</span>', page, re.S)
    handoffs = re.search(r'id="handoffs".*?</section>', page, re.S).group(0)
    assert re.search(r'data-reason="fallback"><td>[^<]+</td><td class="num">2<', handoffs)
    assert 'href="/insight/api/overview?format=csv' in page
    assert f'href="/insight/topics/order?from={DAY_1}' in page
    # The period defaults to the last 30 days and a bad one says what to fix.
    assert re.search(r'name="from" value="\d{4}-\d\d-\d\d"', author.get("/insight").text)
    refused = author.get("/insight?from=yesterday")
    assert refused.status_code == 400 and "2026-01-31" in refused.text


def test_a_topic_version_has_its_counts_on_the_diagram(author):  # noqa: F811
    page = author.get(f"/insight/topics/order?version=1&{PERIOD}").text
    assert "Version 1 · started 7 times" in page
    assert re.search(r'<tr data-node="kind"><td><code>kind</code></td><td class="num">7<',
                     page)
    svg = drawn(page, "svg-1")
    assert "heat-" in svg and "took-2" in svg  # Track was taken twice
    assert "7 reached" in svg
    both = author.get(f"/insight/topics/order?version=1&compare=2&{PERIOD}").text
    assert 'id="version-1"' in both and 'id="version-2"' in both
    assert "Version 2 · started 1 times" in both


def test_unanswered_texts_grouped(author):  # noqa: F811
    page = author.get(f"/insight/unanswered?{PERIOD}").text
    assert re.search(r'<td class="mono">blah #</td><td class="num">1</td>', page)


def test_search_pages_and_open_a_conversation(author, scripted):  # noqa: F811
    page = author.get("/insight/conversations?outcome=handoff&limit=2").text
    assert page.count("<tr data-id=") == 2 and 'id="older"' in page
    older = re.search(r'id="older".*?href="([^"]+)"|href="([^"]+)" id="older"', page)
    rest = author.get(older.group(1) or older.group(2).replace("&amp;", "&")).text
    assert rest.count("<tr data-id=") == 3
    by_user = author.get("/insight/conversations?user=abel.tuter").text
    assert by_user.count("<tr data-id=") == 1 and "+15550100008" in by_user
    conversation_id = scripted.conversations["+15550100001"]
    opened = author.get(f"/insight/conversations/{conversation_id}").text
    assert "Nodes: kind → pin → done" in opened
    assert 'class="node parley-node cat-input type-input-text on-path"' in drawn(
        opened, "path-svg-1")
    assert "[redacted]" in opened
    assert 'name="csrf_token"' in opened.split('id="make-test"')[1][:400]


def test_make_it_a_test_saves_a_passing_transcript(author, scripted, store):  # noqa: F811
    conversation_id = scripted.conversations["+15550100008"]
    url = f"/insight/conversations/{conversation_id}/test"
    assert author.client.post(url, data={"name": "x"}).status_code == 400  # no CSRF token
    response = author.post(url, data={"topic": "order", "name": "Tracked"})
    assert response.status_code == 303
    page = author.get(response.location).text
    assert "Saved the transcript test" in page and 'id="kept-test"' in page
    saved = store.transcripts("order")[0]
    assert (saved["name"], saved["author"]) == ("Tracked", AUTHOR)
    result = run_transcript(store.transcript(saved["id"])["document"], [ORDER_V2],
                            sample_data=SAMPLE_RECORDS)
    assert result.passed, result.mismatch


def test_no_secret_in_any_page(author, scripted):  # noqa: F811
    pages = [author.get(f"{url}?{PERIOD}").text for url in PAGES[:4]]
    pages.append(author.get(f"/insight/topics/order?version=2&compare=1&{PERIOD}").text)
    for conversation_id in scripted.conversations.values():
        pages.append(author.get(f"/insight/conversations/{conversation_id}").text)
        made = author.post(f"/insight/conversations/{conversation_id}/test", data={})
        pages.append(author.get(made.location).text if made.status_code == 303 else made.text)
    text = "\n".join(pages)
    assert "[redacted]" in text and 'id="kept-test"' in text
    for secret in SECRETS:
        assert secret not in text
