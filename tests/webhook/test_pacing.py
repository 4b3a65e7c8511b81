"""Carrier pacing and quiet hours: the real sender (the twilio client to Prism, or ErrorApi for
Twilio's error answers) on a fake clock, on both databases.

Pace is checked on the send times the sender recorded (the fake clock moves only when the
sender waits for a slot, or when a test moves it), never on wall-clock time.
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from engine import pacing
from engine.errors import ConfigError
from engine.outbound_report import format_report, outbound_report
from engine.quiet_hours import SendingWindow
from engine.store import Store
from engine.store.values import parse_iso
from engine.transcripts import ManualClock
from tests.webhook.conftest import NOTIFY_NUMBER, SMS_NUMBER, Twilio, runtime_config
from tests.webhook.servers import ErrorApi
from webhook import create_app, get_runtime
from webhook.outbox import enqueue
from webhook.pacing_api import describe
from webhook.worker import Worker

FAST = {"type": "short-code", "rate": 100_000}
LONG_CODE = {"type": "10dlc", "tier": "low"}  # 1 segment a second, 2,000 a day
LA_PHONE = "+12135550101"  # a Los Angeles area code
NY_PHONE = "+12125550102"  # a New York area code


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def phones(n: int, prefix: str = "+1555010") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


class Paced:
    """A runtime on a fake clock whose worker waits for its slots by moving that clock."""

    def __init__(self, tmp_path, database_url, api_base_url: str, *, start: float,
                 **settings):
        self.clock = ManualClock(start)
        config = runtime_config(tmp_path, DATABASE=database_url,
                                TWILIO_API_BASE_URL=api_base_url, CLOCK=self.clock,
                                **{"QUIET_HOURS": "08:00-21:00", **settings})
        self.app = create_app(config)
        self.store = Store(self.app.config["DATABASE"], clock=self.clock)
        self.worker = Worker(self.app, sleep=lambda seconds: self.clock.advance(seconds=seconds))
        self.policy = get_runtime(self.app).settings.pacing

    def queue(self, *recipients: str, body: str = "Your install is tomorrow 10am-1pm.",
              channel: str = "conversation", quiet_bypass: str | None = None) -> None:
        with self.store.write():
            for phone in recipients:
                enqueue(self.store, to=phone, body=body, channel=channel,
                        quiet_bypass=quiet_bypass)

    def run_for(self, seconds: float, *, step: float = 0.25) -> None:
        """Let the sender work for `seconds` of the fake clock."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            if not self.worker.run_once():
                self.clock.advance(seconds=step)

    def sent(self) -> list[dict]:
        rows = [r for r in self.store.outbox_messages(limit=10_000) if r["status"] == "sent"]
        return sorted(rows, key=lambda r: (r["sent_at"], r["id"]))

    def budget(self, number: str) -> dict:
        return self.store.sending_budgets()[number]

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def paced(tmp_path, database_url, prism):
    prism.start()
    made: list[Paced] = []

    def make(*, start: float = utc("2027-01-07T15:00:00"), **settings) -> Paced:
        runtime = Paced(tmp_path / f"r{len(made)}", database_url, prism.base_url,
                        start=start, **settings)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def assert_paced(rows: list[dict], rate: float) -> None:
    """Each message went no sooner than its predecessor's segments allow at `rate`."""
    times = [parse_iso(r["sent_at"]) for r in rows]
    for before, after, row in zip(times, times[1:], rows, strict=False):
        assert after - before >= row["segments"] / rate - 1e-3, (row, after - before)


class TestCarrierPace:
    def test_a_long_code_sends_one_segment_a_second_and_stops_at_its_daily_cap(
            self, paced, prism):
        runtime = paced(SENDING_NUMBERS={SMS_NUMBER: {**LONG_CODE, "daily_cap": 6},
                                         NOTIFY_NUMBER: FAST}, REPLY_RESERVE=0)
        recipients = phones(9)
        runtime.queue(*recipients[:3])
        runtime.queue(recipients[3], body="word " * 40)  # 200 characters: two segments
        runtime.queue(*recipients[4:])
        mark = prism.log_size()
        runtime.run_for(60)
        sent = runtime.sent()
        # 1 + 1 + 1 + 2 + 1 = the cap of 6 segments: the next message waits for tomorrow.
        assert [r["phone"] for r in sent] == recipients[:5]
        assert [r["segments"] for r in sent] == [1, 1, 1, 2, 1]
        assert_paced(sent, rate=1.0)
        assert parse_iso(sent[-1]["sent_at"]) - parse_iso(sent[0]["sent_at"]) >= 5 - 1e-3
        creates = [r for r in prism.wait_for_requests(5, since=mark, timeout=10)
                   if r.path.endswith("/Messages.json")]
        assert len(creates) == 5 and all(r.ok for r in creates)
        assert {r.form["From"][0] for r in creates} == {SMS_NUMBER}
        budget = runtime.budget(SMS_NUMBER)
        assert (budget["day"], budget["day_segments"]) == ("2027-01-07", 6)
        waiting = runtime.store.outbox_messages(status="pending")
        assert [r["phone"] for r in waiting] == recipients[5:]

        runtime.clock.now = utc("2027-01-08T00:00:00")  # a new UTC day: a new cap
        runtime.run_for(30)
        sent = runtime.sent()
        assert [r["phone"] for r in sent] == recipients
        assert_paced(sent[5:], rate=1.0)

    def test_a_toll_free_number_sends_three_segments_a_second(self, paced):
        runtime = paced(SENDING_NUMBERS={SMS_NUMBER: "toll-free"})
        runtime.queue(*phones(10))
        runtime.run_for(10)
        sent = runtime.sent()
        assert len(sent) == 10
        assert_paced(sent, rate=3.0)
        first, last = parse_iso(sent[0]["sent_at"]), parse_iso(sent[-1]["sent_at"])
        assert last - first == pytest.approx(9 / 3, abs=1e-3)

    def test_replies_overtake_a_queued_batch_of_notifications(self, paced):
        # One number sends both: what a reply overtakes is the same number's queue.
        runtime = paced(SENDING_NUMBERS={SMS_NUMBER: LONG_CODE}, NOTIFY_NUMBER=None,
                        QUIET_HOURS="00:00-24:00")
        batch = phones(5, prefix="+1555020")
        runtime.queue(*batch, channel="notification")
        runtime.worker.run_once()  # the first slots of the batch are handed out
        already = [r["phone"] for r in runtime.store.outbox_messages()
                   if r["status"] == "sent"]
        assert 1 <= len(already) < 5
        runtime.queue("+15550209999", body="Hi, this is Beth. How can I help?")
        runtime.run_for(30)
        order = [r["phone"] for r in runtime.sent()]
        assert order == already + ["+15550209999"] + batch[len(already):]
        assert_paced(runtime.sent(), rate=1.0)

    def test_the_reply_reserve_keeps_part_of_the_cap_for_replies(self, paced):
        runtime = paced(SENDING_NUMBERS={SMS_NUMBER: {**LONG_CODE, "daily_cap": 4}},
                        NOTIFY_NUMBER=None, REPLY_RESERVE=0.5, QUIET_HOURS="00:00-24:00")
        runtime.queue(*phones(4), channel="notification")
        runtime.run_for(20)
        assert len(runtime.sent()) == 2  # half the cap is kept for replies
        runtime.queue("+15550209999", body="Your answer, as asked")
        runtime.run_for(10)
        sent = runtime.sent()
        assert [r["category"] for r in sent] == ["notification", "notification", "reply"]
        assert len(runtime.store.outbox_messages(status="pending")) == 2

    def test_two_senders_share_one_numbers_pace(self, paced):
        runtime = paced(SENDING_NUMBERS={SMS_NUMBER: {"type": "short-code", "rate": 5}})
        runtime.queue(*phones(40))
        claimed: list[tuple[int, float]] = []
        start = threading.Barrier(2, timeout=30)

        def claim_all(owner: str) -> None:
            store = Store(runtime.app.config["DATABASE"], clock=runtime.clock)
            try:
                start.wait()
                for _round in range(20):
                    with store.write():
                        rows = pacing.claim(store, runtime.policy, owner, lease_seconds=600,
                                            limit=3)
                    claimed.extend((r["id"], r["send_at"]) for r in rows)
            finally:
                store.close()

        threads = [threading.Thread(target=claim_all, args=(f"sender-{n}",)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # The clock stood still: both senders together got the slots of the next second,
        # each 1/5 s after the one before, and no message or slot was handed out twice.
        ids = [outbox_id for outbox_id, _slot in claimed]
        slots = sorted(slot for _id, slot in claimed)
        assert len(set(ids)) == len(ids) and 5 <= len(ids) <= 6
        assert slots[0] == runtime.clock.now and slots[-1] <= runtime.clock.now + 1
        assert all(b - a == pytest.approx(0.2) for a, b in zip(slots, slots[1:], strict=False))


class TestThrottling:
    @pytest.fixture
    def api(self):
        with ErrorApi([]) as api:
            yield api

    @pytest.fixture
    def throttled(self, tmp_path, database_url, api):
        runtime = Paced(tmp_path, database_url, api.base_url,
                        start=utc("2027-01-07T15:00:00"),
                        SENDING_NUMBERS={SMS_NUMBER: LONG_CODE, NOTIFY_NUMBER: FAST})
        yield runtime
        runtime.close()

    def test_429_halves_the_numbers_rate_for_15_minutes_and_is_reported(self, api,
                                                                        throttled):
        api.script = [(429, 20429)]
        throttled.queue(*phones(4))
        throttled.run_for(30)
        sent = throttled.sent()
        assert len(sent) == 4 and len(api.requests) == 5  # the throttled one, once more
        retried = [r for r in sent if r["attempts"] == 2]
        assert len(retried) == 1
        # The messages given slots after the 429 go at half the rate: 2 s a segment.
        assert_paced(sent[1:], rate=0.5)
        budget = throttled.budget(SMS_NUMBER)
        assert budget["slow_code"] == "20429" and budget["slowdowns"] == 1
        assert budget["slow_until"] == pytest.approx(utc("2027-01-07T15:15:00"), abs=2)
        report = outbound_report(throttled.store)
        assert report["throttled"] == [{"number": SMS_NUMBER, "last_code": "20429",
                                        "slowdowns": 1, "slow_until": budget["slow_until"],
                                        "slow_now": True}]
        throttled.clock.now = budget["slow_until"] + 1  # 15 minutes later: full speed
        throttled.queue(*phones(3, prefix="+1555030"))
        throttled.run_for(10)
        assert_paced(throttled.sent()[4:], rate=1.0)
        times = [parse_iso(r["sent_at"]) for r in throttled.sent()[4:]]
        assert times[-1] - times[0] == pytest.approx(2.0, abs=1e-3)

    def test_a_filtered_text_30007_is_not_retried_and_slows_the_number(self, api,
                                                                       throttled):
        api.script = [(400, 30007)]
        throttled.queue(phones(1)[0], body="WIN A PRIZE")
        throttled.queue(phones(2)[1], body="Your case was resolved.")
        throttled.run_for(10)
        rows = throttled.store.outbox_messages()
        assert [(r["status"], r["error_code"], r["attempts"]) for r in rows] == [
            ("failed", "30007", 1), ("sent", None, 1)]
        assert len(api.requests) == 2
        assert throttled.budget(SMS_NUMBER)["slow_code"] == "30007"
        day = outbound_report(throttled.store)["days"][0]
        assert (day["sent"], day["failed"], day["errors"]) == (1, 1, {"30007": 1})

    def test_a_30022_status_callback_slows_the_number_that_sent_it(self, throttled):
        throttled.queue(phones(1)[0])
        throttled.run_for(3)
        [row] = throttled.sent()
        twilio = Twilio(throttled.app.test_client())
        assert twilio.status(row["sid"], "undelivered", to=row["phone"],
                             error_code="30022").status_code == 204
        budget = throttled.budget(SMS_NUMBER)
        assert (budget["slow_code"], budget["slowdowns"]) == ("30022", 1)
        day = outbound_report(throttled.store)["days"][0]
        assert day["errors"] == {"30022": 1} and day["delivered"] == 0
        assert "30022: 1" in format_report(outbound_report(throttled.store))


class TestQuietHours:
    def test_a_los_angeles_user_at_6_am_waits_until_8_am_local(self, paced):
        # 14:00 UTC is 06:00 in Los Angeles and 09:00 in New York (January: no DST).
        runtime = paced(start=utc("2027-01-07T14:00:00"),
                        SENDING_NUMBERS={SMS_NUMBER: FAST, NOTIFY_NUMBER: FAST})
        with runtime.store.write():
            runtime.store.lock_phone("+12125550199")
            user_id = runtime.store.add_account("maria")
            # Her account's zone wins over her number's (a New York area code).
            runtime.store.link_phone("+12125550199", user_id)
            runtime.store.set_user_time_zone(user_id, "America/Los_Angeles")
        runtime.queue("+12125550199", LA_PHONE, NY_PHONE, channel="notification")
        runtime.run_for(5)
        assert [r["phone"] for r in runtime.sent()] == [NY_PHONE]
        held = {r["phone"]: r for r in runtime.store.outbox_messages(status="pending")}
        assert set(held) == {"+12125550199", LA_PHONE}
        assert {r["held_until"] for r in held.values()} == {"2027-01-07T16:00:00.000+00:00"}
        runtime.clock.now = utc("2027-01-07T15:59:00")  # 07:59 in Los Angeles
        runtime.run_for(30)
        assert len(runtime.sent()) == 1
        runtime.clock.now = utc("2027-01-07T16:00:00")  # 08:00
        runtime.run_for(5)
        sent = runtime.sent()
        assert sorted(r["phone"] for r in sent[1:]) == sorted(["+12125550199", LA_PHONE])
        assert all(r["sent_at"] >= "2027-01-07T16:00:00" for r in sent[1:])

    def test_replies_are_never_held(self, paced):
        runtime = paced(start=utc("2027-01-07T11:00:00"))  # 03:00 in Los Angeles
        runtime.queue(LA_PHONE, body="Thanks, your case is open.")
        runtime.run_for(2)
        assert [r["phone"] for r in runtime.sent()] == [LA_PHONE]

    def test_an_urgent_category_goes_at_night_and_the_bypass_is_recorded(self, paced):
        runtime = paced(start=utc("2027-01-07T11:00:00"), URGENT_CATEGORIES="outage")
        bypass = runtime.policy.quiet_bypass("outage")
        assert bypass == "urgent category outage"
        assert runtime.policy.quiet_bypass("marketing") is None
        runtime.queue(LA_PHONE, body="Service is down in your area.", channel="notification",
                      quiet_bypass=bypass)
        runtime.queue(NY_PHONE, body="Our spring offers", channel="notification")
        runtime.run_for(2)
        [row] = runtime.sent()
        assert row["phone"] == LA_PHONE
        assert row["quiet_bypass"] == ("urgent category outage: sent in quiet hours at "
                                       "2027-01-07 03:00 America/Los_Angeles")
        [waiting] = runtime.store.outbox_messages(status="pending")
        assert waiting["held_until"] == "2027-01-07T13:00:00.000+00:00"  # 08:00 New York


class TestEstimate:
    def test_eta_and_what_spills_past_todays_cap(self, paced):
        runtime = paced(start=utc("2027-01-07T12:00:00"),
                        SENDING_NUMBERS={NOTIFY_NUMBER: LONG_CODE})
        found = pacing.estimate(runtime.store, runtime.policy, NOTIFY_NUMBER,
                                segments_per_recipient=1, count=2_000)
        # 2,000 a day less the 10% kept for replies: 1,800 today at one a second.
        assert (found.sendable_today, found.spill, found.spill_reason) == \
            (1_800, 200, "daily cap")
        assert found.eta_seconds == pytest.approx(1_800)
        assert found.profile == "10dlc (low): 1 segments/s, 2,000 a day"
        runtime.queue(*phones(100), channel="notification")
        found = pacing.estimate(runtime.store, runtime.policy, segments_per_recipient=2,
                                count=1_000, now=utc("2027-01-07T12:00:00"))
        assert found.number == NOTIFY_NUMBER and found.queued_segments == 100
        assert (found.sendable_today, found.spill) == (850, 150)
        assert found.eta_seconds == pytest.approx(100 + 1_700)

    def test_it_counts_the_recipients_whose_night_it_is(self, paced):
        runtime = paced(start=utc("2027-01-07T14:00:00"),  # 06:00 in LA, 09:00 in New York
                        SENDING_NUMBERS={NOTIFY_NUMBER: LONG_CODE})  # one a second
        found = pacing.estimate(runtime.store, runtime.policy, segments_per_recipient=1,
                                count=3, phones=[LA_PHONE, NY_PHONE, "+13125550100"])
        assert found.held_now == 1  # Los Angeles; New York and Chicago are awake
        # The two awake go at once; Los Angeles's goes when its window opens at 08:00 there.
        assert found.held_until == utc("2027-01-07T16:00:00")
        assert found.eta_seconds == pytest.approx(2 * 3600 + 1, abs=1e-3)
        assert describe(found).endswith(  # what `parley notify --dry-run` prints
            "1 recipient(s) are in their quiet hours and get it when their window opens (the "
            "last at 16:00 UTC), which the time counts.")
        awake = pacing.estimate(runtime.store, runtime.policy, segments_per_recipient=1,
                                count=2, phones=[NY_PHONE, "+13125550100"])
        assert (awake.held_now, awake.held_until) == (0, None)
        assert awake.eta_seconds == pytest.approx(2, abs=1e-3)
        assert pacing.estimate(runtime.store, runtime.policy, segments_per_recipient=1,
                               count=3).held_now is None

    def test_a_fast_number_is_limited_by_the_time_left_today(self, paced):
        runtime = paced(start=utc("2027-01-07T23:59:00"),
                        SENDING_NUMBERS={NOTIFY_NUMBER: "toll-free"})
        found = pacing.estimate(runtime.store, runtime.policy, NOTIFY_NUMBER,
                                segments_per_recipient=1, count=500)
        assert (found.sendable_today, found.spill, found.spill_reason) == (180, 320, "rate")


class TestSettings:
    """Settings alone (no database: SQLite's default file is never opened)."""

    def test_number_types_and_tiers(self):
        assert pacing.profile_from("+1", "short-code").rate == 30
        assert pacing.profile_from("+1", "toll-free").rate == 3
        high = pacing.profile_from("+1", {"type": "10dlc", "tier": "high"})
        assert (high.rate, high.daily_cap) == (1, 200_000)
        service = pacing.profile_from("+1", {"type": "messaging-service", "rate": 12})
        assert (service.rate, service.daily_cap) == (12, None)

    @pytest.mark.parametrize(("spec", "message"), [
        ("fax", "type 'fax'"),
        ({"type": "10dlc", "tier": "gold"}, "tier 'gold'"),
        ({"type": "toll-free", "tier": "low"}, "only a 10dlc number has a tier"),
        ({"type": "short-code", "rate": 0}, "rate must be a number above 0"),
        ({"type": "short-code", "speed": 3}, "unknown keys speed"),
    ])
    def test_a_wrong_entry_says_what_to_fix(self, spec, message):
        with pytest.raises(ConfigError, match=message):
            pacing.profile_from("+15005550001", spec)

    def test_where_a_number_is(self):
        from engine.area_codes import zone_for_number
        from engine.quiet_hours import recipient_zone

        assert zone_for_number(LA_PHONE) == "America/Los_Angeles"
        assert zone_for_number("+13125550100") == "America/Chicago"
        assert zone_for_number("+16045550100") == "America/Vancouver"
        assert zone_for_number("+447700900123") is None
        assert recipient_zone(LA_PHONE, account_zone="Europe/Paris",
                              default="UTC") == "Europe/Paris"
        assert recipient_zone("+447700900123", account_zone=None, default="UTC") == "UTC"

    def test_quiet_hours_windows(self):
        window = SendingWindow.parse("08:00-21:00")
        assert window.is_open(utc("2027-01-07T16:00:00"), "America/Los_Angeles")
        assert not window.is_open(utc("2027-01-08T05:00:00"), "America/Los_Angeles")  # 21:00
        overnight = SendingWindow.parse("22:00-06:00")
        assert overnight.is_open(utc("2027-01-07T23:30:00"), "UTC")
        assert not overnight.is_open(utc("2027-01-07T12:00:00"), "UTC")
        assert SendingWindow.parse("00:00-24:00").always
        for bad in ("8am-9pm", "08:00", "08:00-08:00", "25:00-26:00"):
            with pytest.raises(ConfigError, match="QUIET_HOURS"):
                SendingWindow.parse(bad)

    def test_wrong_settings_stop_the_start(self, tmp_path):
        for settings, message in [
            ({"SENDING_NUMBERS": "{not json"}, "PARLEY_SENDING_NUMBERS is not JSON"),
            ({"REPLY_RESERVE": 1.5}, "PARLEY_REPLY_RESERVE"),
            ({"QUIET_HOURS_ZONE": "Mars/Olympus"}, "PARLEY_QUIET_HOURS_ZONE"),
        ]:
            with pytest.raises(ConfigError, match=message):
                create_app(runtime_config(tmp_path, **settings))


class TestReportAndCommands:
    TOKEN = "t" * 40

    def test_the_report_api_needs_the_token_and_counts_per_day_and_number(self, paced):
        runtime = paced(NOTIFY_API_TOKEN=self.TOKEN)
        runtime.queue(*phones(2))
        runtime.queue(phones(3)[2], channel="notification")
        runtime.run_for(2)
        client = runtime.app.test_client()
        assert client.get("/api/outbound-report").status_code == 401
        response = client.get("/api/outbound-report?days=2",
                              headers={"Authorization": f"Bearer {self.TOKEN}"})
        assert response.status_code == 200
        found = response.get_json()
        assert (found["since"], found["until"]) == ("2027-01-06", "2027-01-07")
        [day] = found["days"]
        assert (day["day"], day["sent"], day["failed"], day["segments"]) == \
            ("2027-01-07", 3, 0, 3)
        assert [(n["number"], n["sent"]) for n in day["numbers"]] == \
            [(SMS_NUMBER, 2), (NOTIFY_NUMBER, 1)]

    def test_commands_report_estimate_and_set_a_users_time_zone(
            self, tmp_path, database_url, prism, monkeypatch):
        from click.testing import CliRunner

        from parley.cli import main

        config = runtime_config(tmp_path, DATABASE=database_url,
                                TWILIO_API_BASE_URL=prism.base_url,
                                SENDING_NUMBERS=json.dumps({NOTIFY_NUMBER: "toll-free"}))
        for key, value in config.items():
            monkeypatch.setenv(f"PARLEY_{key}", str(value))
        app = create_app(config)
        store = Store(app.config["DATABASE"])
        try:
            with store.write():
                store.lock_phone(LA_PHONE)
                user_id = store.add_account("maria")
                store.link_phone(LA_PHONE, user_id)
            runner = CliRunner()
            result = runner.invoke(main, ["users", "time-zone", "maria", "Europe/Paris",
                                          "--database", database_url])
            assert result.exit_code == 0, result.output
            assert store.phone_time_zones([LA_PHONE]) == {LA_PHONE: "Europe/Paris"}
            result = runner.invoke(main, ["users", "time-zone", "maria", "Mars/Olympus",
                                          "--database", database_url])
            assert result.exit_code != 0 and "not an IANA time zone" in result.output
            result = runner.invoke(main, ["send-estimate", "--count", "30", "--segments", "2"])
            assert result.exit_code == 0, result.output
            assert f"30 recipient(s), 60 segment(s) from {NOTIFY_NUMBER} [toll-free: 3 " \
                   "segments/s]: 30 go out today, done in about 0.3 minute(s)" in result.output
            with store.write():
                enqueue(store, to=phones(1)[0], body="hello")
            Worker(app).drain()
            result = runner.invoke(main, ["outbound-report", "--days", "1"])
            assert result.exit_code == 0, result.output
            lines = result.output.splitlines()
            assert lines[1].split()[1:6] == ["all", "1", "0", "0", "1"]
            assert lines[2].split()[1:6] == [SMS_NUMBER, "1", "0", "0", "1"]
        finally:
            store.close()
