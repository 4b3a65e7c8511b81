"""Offline engines (transcripts, simulator, chat) are equipped exactly like the runtime's."""

from __future__ import annotations

from engine.assembly import standard_interceptors
from tests.webhook.conftest import runtime_config
from webhook import create_app, get_runtime


def test_the_runtime_and_the_standard_assembly_have_the_same_features_in_the_same_order(
        tmp_path):
    runtime = get_runtime(create_app(runtime_config(tmp_path, PIN_PEPPER="p" * 32)))
    assert [type(i) for i in runtime.interceptors] == \
        [type(i) for i in standard_interceptors()]
