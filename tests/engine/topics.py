"""Small topics written for the engine's tests."""

from __future__ import annotations

CHOOSE_FRUIT = {
    "id": "fruit",
    "name": "Pick a fruit",
    "version": 1,
    "discovery": {"keywords": ["fruit"]},
    "variables": {"fruit": {"type": "string"}, "pin": {"type": "string", "sensitive": True}},
    "start": "pick",
    "nodes": [
        {
            "id": "pick",
            "type": "input.static_choice",
            "prompt": "Which fruit?",
            "var": "fruit",
            "options": [{"label": name.title(), "value": name} for name in (
                "apple", "banana", "cherry", "damson", "elderberry", "fig", "grape", "honeydew",
                "kiwi", "lemon", "mango", "nectarine")],
            "next": "secret",
            "on_max_attempts": "bye",
        },
        {"id": "secret", "type": "input.text", "prompt": "Your PIN?", "var": "pin",
         "next": "said"},
        {"id": "said", "type": "response.text", "text": "You chose {{ fruit }}.", "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}

# A secret answer the topic keeps while it asks one more question.
MEMORABLE_WORD = {
    "id": "memorable",
    "name": "Memorable word",
    "version": 1,
    "discovery": {"keywords": ["memorable"]},
    "variables": {"word": {"type": "string", "sensitive": True},
                  "sure": {"type": "boolean"}},
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "Your memorable word?", "var": "word",
         "next": "confirm"},
        {"id": "confirm", "type": "input.boolean", "prompt": "Keep it?", "var": "sure",
         "on_yes": "kept", "on_no": "bye"},
        {"id": "kept", "type": "response.text", "text": "Kept.", "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}
