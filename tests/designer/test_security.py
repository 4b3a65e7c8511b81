"""Content-Security-Policy, no inline script anywhere, and author text always escaped."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.html import parse

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def make_xss_topic(author) -> None:
    author.post("/topics/new", data={"name": XSS[:80], "id": "xss"})


class TestContentSecurityPolicy:
    def test_every_page_forbids_inline_script(self, author):
        make_xss_topic(author)
        for url in ["/", "/topics/new", "/topics/import", "/topics/xss/edit",
                    "/topics/xss/versions", "/topics/xss/diff?a=1&b=1"]:
            response = author.get(url)
            assert response.status_code == 200, url
            csp = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            page = parse(response.text)
            for script in page.scripts:
                # Either a static file, or inert data that the browser never runs.
                assert script.get("src", "").startswith("/static/") \
                    or script.get("type") == "application/json", (url, script)
            assert page.handlers == [], (url, page.handlers)

    def test_login_page_has_the_policy_too(self, client):
        response = client.get("/login")
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert parse(response.text).scripts == []

    def test_static_scripts_never_use_inner_html(self, app):
        modules = sorted(p.name for p in Path(app.static_folder, "editor").glob("*.js"))
        assert "main.js" in modules
        for name in ["simulator.js", "svg.js", "forms.js", *(f"editor/{m}" for m in modules)]:
            text = (app.static_folder and open(f"{app.static_folder}/{name}").read())
            assert "innerHTML" not in text and "outerHTML" not in text, name
            assert "eval(" not in text, name


class TestEscaping:
    def test_topic_name_is_escaped_on_the_list(self, author):
        make_xss_topic(author)
        html = author.get("/").text
        assert XSS[:40] not in html
        assert "&lt;script&gt;alert(" in html
        assert "<img src=x" not in html

    def test_topic_name_is_escaped_in_the_editor_and_its_data(self, author):
        make_xss_topic(author)
        html = author.get("/topics/xss/edit").text
        assert "<script>alert(" not in html
        assert "&lt;script&gt;alert(" in html  # the page title and heading
        # The document travels in a JSON data block with <, > and & escaped...
        start = html.index('<script type="application/json" id="editor-data">')
        block = html[start:html.index("</script>", start)]
        assert "<img" not in block and "\\u003cscript\\u003e" in block
        # ...and still decodes to the exact name.
        data = json.loads(block.split(">", 1)[1])
        assert data["document"]["name"] == XSS[:80]

    def test_problem_messages_and_paths_are_escaped_on_import(self, author):
        bad = '{"id": "x", "name": "n", "version": 1, "start": "a", "nodes": [], ' \
              '"<b>evil</b>": 1}'
        response = author.post("/topics/import", data={"file": (_file(bad), "<i>t</i>.json")},
                               content_type="multipart/form-data")
        assert response.status_code == 422
        assert "<b>evil</b>" not in response.text and "<i>t</i>" not in response.text
        assert "&lt;b&gt;evil&lt;/b&gt;" in response.text


def _file(text: str):
    import io

    return io.BytesIO(text.encode())
