"""Sample records standing in for a company's system of record. Imports engine.store.

`topics/data/sample_records.json` (SAMPLE_RECORDS) holds users and their cases; `parley init-db
--sample-data`, the transcript runner, the sandbox and the designer's simulator load it.
`simulated_store` marks a store as a simulation's, whose new cases get their own numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.store import Store

# Cases opened in a simulated conversation (designer simulator, transcript tests) are numbered
# SIM0010010...: never the number of a real case (CS...), so an author cannot mistake one.
SIMULATED_CASE_PREFIX = "SIM"

SAMPLE_RECORDS = Path(__file__).resolve().parent.parent / "topics" / "data" / "sample_records.json"


def load_sample_data(store: Store, path: str | Path = SAMPLE_RECORDS) -> dict[str, int]:
    """Insert the users and cases of `path` that are not stored yet; returns counts added."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    added = {"users": 0, "cases": 0}
    with store.write():
        for user in data.get("users", []):
            if store.user(user_name=user["user_name"]) is None:
                store.add_user(user["user_name"], display_name=user.get("display_name"),
                               email=user.get("email"), mobile=user.get("mobile"))
                added["users"] += 1
        for case in data.get("cases", []):
            if not store.query_records("cases", where={"number": case["number"]}, limit=1):
                store.insert_case(case)
                added["cases"] += 1
    return added


def simulated_store(store: Store) -> Store:
    """Number the cases `store` opens SIM...: it holds a simulation, not real records."""
    store.case_prefix = SIMULATED_CASE_PREFIX
    return store
