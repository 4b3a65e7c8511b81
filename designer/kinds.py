"""What the node forms show for each kind of node: fields, widgets and help, from the schema.

The editor's JavaScript builds a form for a node from `NODE_KINDS`; the schema stays the judge
of what is valid. Imports nothing from Parley.
"""

from __future__ import annotations


def field(name: str, label: str, widget: str = "text", *, required: bool = False,
          help: str = "", **extra) -> dict:
    return {"name": name, "label": label, "widget": widget, "required": required,
            "help": help, **extra}


TITLE = field("title", "Title", help="Short name shown on the diagram.")
NOTES = field("notes", "Notes", "textarea", help="For authors only; never sent.")
NEXT = field("next", "Then go to", "node", required=True)

INPUT_COMMON_HEAD = [
    field("prompt", "Question", "template", required=True,
          help="What the bot asks. {{ variable }} inserts a value."),
    field("var", "Save the answer in", "var", required=True,
          help="A variable name, e.g. category."),
]
INPUT_COMMON_TAIL = [
    field("reprompt", "When the answer does not fit, say", "template",
          help="Defaults to a short apology and the question."),
    field("max_attempts", "Attempts", "number", min=1, max=10, placeholder="3"),
    field("on_max_attempts", "After the last failed attempt go to", "node",
          help="Without it the bot offers a live agent."),
]

NODE_KINDS: dict[str, dict] = {
    "input.text": {
        "label": "Ask for text", "group": "Ask",
        "fields": [*INPUT_COMMON_HEAD, NEXT,
                   field("min_length", "Shortest answer", "number", min=0, max=1600),
                   field("max_length", "Longest answer", "number", min=1, max=1600),
                   *INPUT_COMMON_TAIL],
    },
    "input.static_choice": {
        "label": "Ask to choose", "group": "Ask",
        "fields": [*INPUT_COMMON_HEAD,
                   field("options", "Choices", "options", required=True,
                         help="Users reply with the number, the label or the value."),
                   field("next", "Then go to", "node",
                         help="For choices without their own next node."),
                   *INPUT_COMMON_TAIL],
    },
    "input.dynamic_choice": {
        "label": "Choose from data", "group": "Ask",
        "fields": [*INPUT_COMMON_HEAD,
                   field("source", "Data source", "source", required=True),
                   field("label", "Label of each choice", "template", required=True,
                         help="Over item, e.g. {{ item.number }}: {{ item.short_description }}"),
                   field("value", "Value of each choice", "template", required=True,
                         help="Over item, e.g. {{ item.number }}"),
                   NEXT,
                   field("empty_message", "When there is nothing to choose, say", "template"),
                   field("on_empty", "When there is nothing to choose go to", "node"),
                   *INPUT_COMMON_TAIL],
    },
    "input.boolean": {
        "label": "Ask yes or no", "group": "Ask",
        "fields": [*INPUT_COMMON_HEAD,
                   field("on_yes", "On yes go to", "node", required=True),
                   field("on_no", "On no go to", "node", required=True),
                   field("yes_words", "Extra words for yes", "words", help="One per line."),
                   field("no_words", "Extra words for no", "words", help="One per line."),
                   *INPUT_COMMON_TAIL],
    },
    "input.file_picker": {
        "label": "Ask for a photo", "group": "Ask",
        "fields": [*INPUT_COMMON_HEAD, NEXT, *INPUT_COMMON_TAIL],
    },
    "response.text": {
        "label": "Send text", "group": "Say",
        "fields": [field("text", "Message", "template", required=True,
                         help="{{ variable }} inserts a value."), NEXT],
    },
    "response.image": {
        "label": "Send an image", "group": "Say",
        "fields": [field("url", "Image URL", "text", required=True,
                         help="An https URL, or a path under /media/."),
                   field("caption", "Caption", "template"), NEXT],
    },
    "response.link": {
        "label": "Send a link", "group": "Say",
        "fields": [field("label", "Text before the link", "template", required=True),
                   field("url", "URL", "text", required=True), NEXT],
    },
    "response.card": {
        "label": "Send a card", "group": "Say",
        "fields": [field("title", "Card title", "template", required=True),
                   field("fields", "Card fields", "card_fields", required=True),
                   field("url", "Link", "text"), NEXT],
    },
    "flow.branch": {
        "label": "Branch", "group": "Flow",
        "fields": [field("conditions", "Conditions (first true wins)", "conditions",
                         required=True, help='Jinja expressions, e.g. category == "billing"'),
                   field("otherwise", "Otherwise go to", "node", required=True)],
    },
    "flow.set": {
        "label": "Set variables", "group": "Flow",
        "fields": [field("values", "Values", "mapping", required=True,
                         key_label="Variable", value_label="Expression"), NEXT],
    },
    "flow.lookup": {
        "label": "Look up a record", "group": "Flow",
        "fields": [field("source", "Data source", "source", required=True),
                   field("var", "Save the record in", "var", required=True),
                   NEXT,
                   field("on_not_found", "When nothing is found go to", "node")],
    },
    "flow.create_record": {
        "label": "Open a case", "group": "Flow",
        "fields": [field("table", "Table", "enum", required=True, choices=["cases"]),
                   field("fields", "Fields", "mapping", required=True,
                         key_label="Column", value_label="Template",
                         keys=["short_description", "description", "category", "priority",
                               "assigned_to", "state"]),
                   field("var", "Save the new case in", "var", required=True,
                         help="Then {{ case.number }} gives its number."),
                   NEXT],
    },
    "flow.handoff": {
        "label": "Hand off to an agent", "group": "Flow",
        "fields": [field("message", "Message while they wait", "template"),
                   field("queue", "Queue", "queue",
                         help="The agents who serve this queue get the chat (e.g. billing); "
                         "empty: the default queue. The list offers the queues that exist."),
                   field("reason", "Reason (for the agent)", "text")],
    },
    "flow.end": {
        "label": "End", "group": "Flow",
        "fields": [field("message", "Last message", "template",
                         help="With \u201canything else?\u201d on, don't say goodbye here: the "
                         "closing topic does when the user is done."),
                   field("ask_anything_else", "Ask \u201canything else?\u201d", "bool",
                         default=True)],
    },
}

for _kind, _spec in NODE_KINDS.items():
    _names = {f["name"] for f in _spec["fields"]}
    _spec["fields"] = [*([] if "title" in _names else [TITLE]), *_spec["fields"], NOTES]

DATA_SOURCE_FIELDS = {
    "sqlite": [
        field("table", "Table", "enum", required=True, choices=["cases", "users"]),
        field("where", "Where (column = template)", "mapping", key_label="Column",
              value_label="Template"),
        field("scope", "Only the rows of", "enum", choices=["linked_user"],
              help="linked_user: the texter's own rows (cases they opened); a guest gets "
                   "none. Use it whenever the rows belong to someone."),
        field("order_by", "Order by", "text", help="A column; a leading - sorts descending."),
        field("limit", "At most", "number", min=1, max=100, placeholder="50"),
    ],
    "http": [
        field("url", "URL (GET, answers JSON)", "text", required=True,
              help="Write https://host/ out; {{ values }} in the path or query are "
                   "percent-encoded. The host must be on PARLEY_DATA_SOURCE_HOSTS."),
        field("items", "Path to the list", "text", help="e.g. data.items; empty for a list."),
        field("timeout_seconds", "Timeout (seconds)", "number", min=0, max=30,
              placeholder="5"),
        field("limit", "At most", "number", min=1, max=100, placeholder="50"),
    ],
}

# The columns of the list widgets (the editor's script shows the same labels).
ROW_LABELS = {
    "options": {"label": "Label", "value": "Value", "next": "Goes to"},
    "fields": {"label": "Label", "value": "Value (template)"},
    "conditions": {"when": "When", "label": "Label", "next": "Go to"},
}

TOPIC_FIELDS = [
    field("name", "Name", required=True, help="Shown to users in the topic menu."),
    field("description", "Description", "textarea"),
    field("role", "Role", "enum", choices=["topic", "greeting", "fallback", "closing"],
          default="topic"),
    field("start", "Start at", "node", required=True),
    field("requires_account", "Needs a linked account", "bool", default=False),
]

# The fields of a notification as the Notifications tab labels them (editor/notifications.js).
NOTIFICATION_LABELS = {
    "name": "Name", "text": "Text", "start": "Start at",
    "variables": "Variables the sender fills in", "programme": "Programme",
    "max_wait_hours": "Longest wait (hours)", "description": "Description (for the team)",
}


def editor_spec() -> dict:
    """Everything the editor's script needs to build forms."""
    # JSON objects lose their key order on the way (tojson sorts keys): `order` keeps it.
    return {"kinds": NODE_KINDS, "order": list(NODE_KINDS),
            "data_sources": DATA_SOURCE_FIELDS, "topic": TOPIC_FIELDS,
            "notification": NOTIFICATION_LABELS,
            "variable_types": ["string", "number", "boolean", "object", "array"]}
