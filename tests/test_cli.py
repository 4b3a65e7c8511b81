"""The `parley` command as an author uses it: validate, test, import/export, draw, chat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from engine.validation import problems
from parley.cli import main

ROOT = Path(__file__).resolve().parents[1]
TOPICS = sorted(str(p) for p in (ROOT / "topics").glob("*.json"))

BROKEN = {
    "id": "broken",
    "name": "Broken",
    "version": 1,
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.static_choice", "prompt": "Pick", "var": "x",
         "options": [{"label": "Stop", "value": "a"}, {"label": "B", "value": "a"}],
         "next": "nowhere"},
        {"id": "lonely", "type": "response.text", "text": "{{ unclosed", "next": "ask"},
    ],
}


@pytest.fixture
def runner():
    return CliRunner()


class TestValidate:
    def test_the_example_topics_are_clean(self, runner):
        result = runner.invoke(main, ["validate", *TOPICS])
        assert result.exit_code == 0, result.output
        assert "error" not in result.output
        assert result.output.count(": ok") == len(TOPICS)

    def test_a_broken_topic_gets_every_error_with_its_json_path(self, runner, tmp_path):
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(BROKEN))
        result = runner.invoke(main, ["validate", str(path)])
        assert result.exit_code == 1
        for fragment in ("$.nodes[0].next", "$.nodes[0].options[0].label",
                         "$.nodes[0].options[1].value", "$.nodes[1].text", "$.nodes[1]"):
            assert f"error: {fragment}" in result.output, (fragment, result.output)

    def test_topics_validated_together_warn_of_a_shared_keyword(self, runner, tmp_path):
        report = json.loads((ROOT / "topics" / "report_issue.json").read_text())
        clash = {"id": "billing", "name": "Billing questions", "version": 1, "start": "done",
                 "discovery": {"keywords": ["Bills", "Issue"]},
                 "nodes": [{"id": "done", "type": "flow.end", "ask_anything_else": False}]}
        (tmp_path / "report_issue.json").write_text(json.dumps(report))
        (tmp_path / "billing.json").write_text(json.dumps(clash))
        result = runner.invoke(main, ["validate", str(tmp_path)])
        assert result.exit_code == 0, result.output  # a warning, not an error
        assert (f"{tmp_path / 'billing.json'}: warning: $.discovery.keywords[1]: 'Issue' is also "
                "a discovery word of \u201cI have an issue\u201d (report_issue)") in result.output
        assert "is also a discovery word of \u201cBilling questions\u201d (billing)" \
            in result.output
        alone = runner.invoke(main, ["validate", str(tmp_path / "billing.json")])
        assert "also a discovery word" not in alone.output

    def test_a_file_that_is_not_json_is_an_error_not_a_crash(self, runner, tmp_path):
        path = tmp_path / "bad.json"
        path.write_text('{"id": "x",, }')
        result = runner.invoke(main, ["validate", str(path)])
        assert result.exit_code == 1
        assert "error: $" in result.output


class TestTranscripts:
    def test_every_example_transcript_passes_with_full_coverage(self, runner):
        result = runner.invoke(main, ["test", str(ROOT / "topics" / "transcripts"),
                                      "--require-coverage"])
        assert result.exit_code == 0, result.output
        assert " 0 failed" in result.output
        assert "missed" not in result.output
        covered = [line for line in result.output.splitlines() if "100% of nodes" in line]
        assert len(covered) == len(TOPICS)

    def test_a_wrong_expectation_fails_and_shows_the_difference(self, runner, tmp_path):
        transcript = {"name": "wrong", "turns": [{"user": "router on fire", "bot": ["Hi"]}]}
        path = tmp_path / "wrong.json"
        path.write_text(json.dumps(transcript))
        result = runner.invoke(main, ["test", str(path)])
        assert result.exit_code == 1
        assert "FAIL" in result.output and "Unplug the router" in result.output


class TestImportExport:
    def test_export_then_import_gives_back_the_identical_document(self, runner, tmp_path):
        database = str(tmp_path / "parley.sqlite")
        source = ROOT / "topics" / "install_appointment.json"
        assert runner.invoke(main, ["import", str(source), "-d", database]).exit_code == 0
        first = tmp_path / "first.json"
        assert runner.invoke(main, ["export", "install_appointment", "-o", str(first),
                                    "-d", database]).exit_code == 0
        assert json.loads(first.read_text()) == json.loads(source.read_text())
        # Valid (its one warning: the Spanish confirmation leaves the English slot value out).
        assert [p for p in problems(json.loads(first.read_text())) if p.severity == "error"] == []
        again = runner.invoke(main, ["import", str(first), "-d", database])
        assert "unchanged" in again.output
        second = tmp_path / "second.json"
        runner.invoke(main, ["export", "install_appointment", "-o", str(second), "-d", database])
        assert second.read_bytes() == first.read_bytes()

    def test_import_stores_nothing_when_one_file_is_broken(self, runner, tmp_path):
        database = str(tmp_path / "parley.sqlite")
        broken = tmp_path / "broken.json"
        broken.write_text(json.dumps(BROKEN))
        good = ROOT / "topics" / "router_fire.json"
        result = runner.invoke(main, ["import", str(good), str(broken), "-d", database])
        assert result.exit_code == 1
        missing = runner.invoke(main, ["export", "router_fire", "-d", database])
        assert missing.exit_code != 0 and "no topic" in missing.output

    def test_import_with_publish_makes_topics_live(self, runner, tmp_path):
        database = str(tmp_path / "parley.sqlite")
        result = runner.invoke(main, ["import", *TOPICS, "--publish", "-d", database])
        assert result.exit_code == 0, result.output
        assert result.output.count("published") == len(TOPICS)


REMOTE = {
    "id": "remote", "name": "Remote", "version": 1, "discovery": {"keywords": ["remote"]},
    "data_sources": {"orders": {"kind": "http", "url": "https://api.example.com/orders"}},
    "start": "pick",
    "nodes": [
        {"id": "pick", "type": "input.dynamic_choice", "prompt": "Which?", "var": "pick",
         "source": "orders", "label": "{{ item.name }}", "value": "{{ item.id }}",
         "next": "bye", "on_empty": "bye", "on_max_attempts": "bye"},
        {"id": "bye", "type": "flow.end"},
    ],
}


class TestDataSourceHosts:
    @pytest.fixture
    def remote(self, tmp_path, monkeypatch):
        monkeypatch.delenv("PARLEY_DATA_SOURCE_HOSTS", raising=False)
        path = tmp_path / "remote.json"
        path.write_text(json.dumps(REMOTE))
        return str(path)

    def test_validate_warns_about_a_host_off_the_list(self, runner, remote):
        result = runner.invoke(main, ["validate", remote])
        assert result.exit_code == 0, result.output
        assert "warning: $.data_sources.orders.url: api.example.com is not an allowed data " \
               "source host: PARLEY_DATA_SOURCE_HOSTS is empty" in result.output

    def test_validate_is_quiet_about_a_listed_host(self, runner, remote, monkeypatch):
        monkeypatch.setenv("PARLEY_DATA_SOURCE_HOSTS", "*.example.com")
        assert "data_sources" not in runner.invoke(main, ["validate", remote]).output

    def test_import_publish_refuses_it_and_stores_nothing(self, runner, remote, tmp_path):
        database = str(tmp_path / "parley.sqlite")
        result = runner.invoke(main, ["import", remote, "--publish", "-d", database])
        assert result.exit_code == 1
        assert "$.data_sources.orders.url" in result.output
        assert "no topic" in runner.invoke(main, ["export", "remote", "-d", database]).output

    def test_import_publish_with_the_host_listed(self, runner, remote, tmp_path, monkeypatch):
        monkeypatch.setenv("PARLEY_DATA_SOURCE_HOSTS", "api.example.com")
        database = str(tmp_path / "parley.sqlite")
        result = runner.invoke(main, ["import", remote, "--publish", "-d", database])
        assert result.exit_code == 0 and "published" in result.output

    def test_import_as_a_draft_is_allowed(self, runner, remote, tmp_path):
        database = str(tmp_path / "parley.sqlite")
        result = runner.invoke(main, ["import", remote, "-d", database])
        assert result.exit_code == 0 and "draft" in result.output


class TestDiagramAndChat:
    def test_diagram_writes_an_svg_with_every_node(self, runner, tmp_path):
        output = tmp_path / "report_issue.svg"
        result = runner.invoke(main, ["diagram", str(ROOT / "topics" / "report_issue.json"),
                                      "-o", str(output)])
        assert result.exit_code == 0, result.output
        # Parsed as XML, as a browser reads it (Graphviz writes "-" as &#45; in attributes).
        ids = {element.get("id") for element in ElementTree.parse(output).iter()}
        for node in json.loads((ROOT / "topics" / "report_issue.json").read_text())["nodes"]:
            assert f"node-{node['id']}" in ids

    def test_chat_talks_to_a_topic_through_the_engine(self, runner):
        result = runner.invoke(main, ["chat", str(ROOT / "topics" / "install_appointment.json")],
                               input="change\n2\nno\n")
        assert result.exit_code == 0, result.output
        assert "Is this ok?" in result.output
        assert "Done. Your install appointment is now on Dec 27th between 1pm and 4pm." \
            in result.output
        assert "(conversation closed)" in result.output

    def test_chat_as_a_linked_sample_user(self, runner):
        result = runner.invoke(main, ["chat", str(ROOT / "topics" / "open_cases.json"),
                                      "--user", "abel.tuter"], input="6\n/quit\n")
        assert "CS0010006 Monitor flickers after update" in result.output


class TestBench:
    def test_parley_bench_is_the_benchmark_command(self):
        # A real process: argparse prints the help and exits, as a user would see it.
        done = subprocess.run([sys.executable, "-m", "parley", "bench", "--help"],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: parley bench")
        assert "--quick" in done.stdout and "--only" in done.stdout

    def test_an_unknown_section_is_refused_before_anything_runs(self):
        done = subprocess.run([sys.executable, "-m", "parley", "bench", "--only", "nope"],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 2
        assert "unknown section(s): nope" in done.stderr
