"""The per-day outbound report: sent, delivered, failed by error code, segments, per number.

Imports engine.pacing (for the UTC day) and reads through the Store it is given. `parley
outbound-report` prints it and `GET /api/outbound-report` answers it as JSON.

- sent: messages Twilio accepted; delivered: those whose status callback said delivered;
- failed: messages Twilio refused, or reported failed or undelivered, counted by error code
  ("none" when Twilio gave none); segments: what the sent messages cost;
- throttled: the numbers carriers slowed down (429, 30007, 30022), with the last code.
"""

from __future__ import annotations

from collections import defaultdict

from engine.pacing import DAY, utc_day

FAILED_DELIVERY = ("failed", "undelivered")


def _blank() -> dict:
    return {"sent": 0, "delivered": 0, "failed": 0, "errors": {}, "segments": 0}


def _add(totals: dict, row: dict) -> None:
    messages = int(row["messages"])
    failed = row["status"] == "failed" or row["delivery_status"] in FAILED_DELIVERY
    if row["status"] == "sent":
        totals["sent"] += messages
        totals["segments"] += int(row["segments"] or 0)
    if row["delivery_status"] == "delivered":
        totals["delivered"] += messages
    if failed:
        totals["failed"] += messages
        code = row["error_code"] or "none"
        totals["errors"][code] = totals["errors"].get(code, 0) + messages


def outbound_report(store, *, days: int = 7, now: float | None = None) -> dict:
    """The last `days` UTC days (today included), newest first, each with its numbers."""
    now = store.clock() if now is None else now
    days = max(1, int(days))
    since, until = utc_day(now - (days - 1) * DAY), utc_day(now)
    per_day: dict[str, dict] = defaultdict(_blank)
    per_number: dict[tuple[str, str], dict] = defaultdict(_blank)
    for row in store.outbound_counts(since=since, until=until):
        _add(per_day[row["day"]], row)
        _add(per_number[(row["day"], row["number"] or "unknown")], row)
    report = []
    for day in sorted(per_day, reverse=True):
        numbers = [{"number": number, **totals}
                   for (found_day, number), totals in sorted(per_number.items())
                   if found_day == day]
        report.append({"day": day, **per_day[day], "numbers": numbers})
    throttled = [{"number": b["number"], "last_code": b["slow_code"],
                  "slowdowns": int(b["slowdowns"]), "slow_until": float(b["slow_until"]),
                  "slow_now": float(b["slow_until"]) > now}
                 for b in store.sending_budgets().values() if int(b["slowdowns"])]
    return {"since": since, "until": until, "days": report, "throttled": throttled}


def format_report(report: dict) -> str:
    """The report as a plain-text table (`parley outbound-report`)."""
    lines = [f"{'day':<12}{'number':<16}{'sent':>8}{'delivered':>11}{'failed':>8}"
             f"{'segments':>10}  failed by error code"]
    for day in report["days"]:
        for entry in [{"number": "all", **day}, *day["numbers"]]:
            errors = ", ".join(f"{code}: {n}" for code, n in sorted(entry["errors"].items()))
            lines.append(f"{day['day']:<12}{entry['number']:<16}{entry['sent']:>8}"
                         f"{entry['delivered']:>11}{entry['failed']:>8}{entry['segments']:>10}"
                         f"  {errors or '-'}")
    if not report["days"]:
        lines.append(f"(nothing sent from {report['since']} to {report['until']})")
    for item in report["throttled"]:
        state = "slowed now" if item["slow_now"] else "back to full speed"
        lines.append(f"throttled: {item['number']} {item['slowdowns']} time(s), last error "
                     f"{item['last_code']} ({state})")
    return "\n".join(lines)
