"""engine.sms: GSM-7 alphabet, encodings, segment counts, message splitting, carrier keywords."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import sms

EMOJI = "\U0001f600"  # 😀, outside the BMP: two UTF-16 code units


class TestAlphabet:
    def test_basic_table_has_127_characters_without_escape(self):
        assert len(sms.GSM7_BASIC) == 127
        assert "\x1b" not in sms.GSM7_BASIC

    def test_extension_table(self):
        assert set("^{}\\[~]|€\f") == set(sms.GSM7_EXTENDED)
        assert not sms.GSM7_BASIC & sms.GSM7_EXTENDED

    @pytest.mark.parametrize("char", ["@", "£", "é", "Ø", "Δ", "ß", "¿", "à", "\n", " ", "¤"])
    def test_basic_characters(self, char):
        assert char in sms.GSM7_BASIC

    @pytest.mark.parametrize("char", ["á", "ç", "’", "“", "—", "…", "`", EMOJI, "ñ".upper() + "̃"])
    def test_characters_outside_gsm7(self, char):
        assert sms.encoding(char) == "UCS-2"

    def test_non_gsm_chars_lists_each_once_in_order(self):
        assert sms.non_gsm_chars("it’s ok’ 😀") == ["’", EMOJI]


class TestEncoding:
    def test_plain_text_is_gsm7(self):
        assert sms.encoding("Hello! Your case is CS0001234 (open). Reply YES.") == "GSM-7"

    def test_extended_characters_stay_gsm7(self):
        assert sms.encoding("{[~]} ^ | € \\") == "GSM-7"

    def test_one_emoji_makes_it_ucs2(self):
        assert sms.encoding("Thanks " + EMOJI) == "UCS-2"

    def test_empty_text_is_gsm7(self):
        assert sms.encoding("") == "GSM-7"


class TestSegments:
    @pytest.mark.parametrize(("text", "segments"), [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
    ])
    def test_gsm7_limits(self, text, segments):
        assert sms.segment_count(text) == segments

    @pytest.mark.parametrize(("text", "segments"), [
        ("á" * 70, 1),
        ("á" * 71, 2),
        ("á" * 134, 2),
        ("á" * 135, 3),
    ])
    def test_ucs2_limits(self, text, segments):
        assert sms.segment_count(text) == segments

    def test_extended_characters_count_two_septets(self):
        assert sms.segment_count("{" * 80) == 1
        assert sms.segment_count("{" * 81) == 2
        assert sms.describe("a{").units == 3

    def test_emoji_counts_two_code_units(self):
        assert sms.describe(EMOJI * 35) == sms.SmsInfo(35, "UCS-2", 1, 70)
        assert sms.segment_count(EMOJI * 36) == 2

    def test_escape_sequence_is_not_split_across_parts(self):
        # 152 septets then a 2-septet "{": it does not fit in part one's last septet.
        text = "a" * 152 + "{" + "a" * 10
        assert sms.describe(text).units == 164
        assert sms.segment_count(text) == 2
        assert sms.segment_count("a" * 152 + "{" + "a" * 152) == 3  # 306 septets, yet 3 parts

    def test_surrogate_pair_is_not_split_across_parts(self):
        text = "á" * 66 + EMOJI + "á" * 67
        assert sms.describe(text).units == 135
        assert sms.segment_count(text) == 3

    def test_describe(self):
        info = sms.describe("Hi 😀")
        assert (info.chars, info.encoding, info.segments) == (4, "UCS-2", 1)

    def test_sms_info_is_frozen(self):
        with pytest.raises(AttributeError):
            sms.describe("x").segments = 5  # type: ignore[misc]


class TestSplitMessage:
    def test_short_text_is_one_part_unchanged(self):
        assert sms.split_message("  hello  ") == ["  hello  "]
        assert sms.split_message("") == [""]

    def test_limit_is_twilios(self):
        assert sms.MAX_MESSAGE_CHARS == 1600
        assert sms.split_message("a" * 1600) == ["a" * 1600]

    def test_prefers_paragraph_breaks(self):
        first, second = "word " * 250, "more " * 100
        parts = sms.split_message(first.strip() + "\n\n" + second.strip())
        assert parts == [first.strip(), second.strip()]

    def test_then_line_breaks(self):
        lines = "\n".join(f"line {i:03d} of text" for i in range(200))
        parts = sms.split_message(lines, limit=100)
        assert all(len(p) <= 100 for p in parts)
        assert all(p.startswith("line ") and p.endswith("of text") for p in parts)

    def test_then_spaces_never_mid_word(self):
        words = [f"w{i}" for i in range(1000)]
        parts = sms.split_message(" ".join(words), limit=50)
        assert all(len(p) <= 50 for p in parts)
        assert " ".join(parts).split() == words

    def test_a_word_longer_than_the_limit_is_cut(self):
        assert sms.split_message("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]

    def test_an_early_paragraph_break_does_not_waste_a_part(self):
        text = "Intro.\n\n" + "word " * 30
        parts = sms.split_message(text.strip(), limit=100)
        assert len(parts[0]) > 50

    def test_bad_limit(self):
        with pytest.raises(ValueError):
            sms.split_message("text", limit=0)

    @given(st.text(alphabet=st.sampled_from("ab \n\t."), max_size=400),
           st.integers(min_value=1, max_value=60))
    def test_parts_fit_and_keep_every_word(self, text, limit):
        parts = sms.split_message(text, limit=limit)
        assert all(len(p) <= limit for p in parts)
        assert "".join("".join(parts).split()) == "".join(text.split())


class TestReservedWords:
    @pytest.mark.parametrize("text", ["STOP", "stop", " Stop ", "Stop.", "yes", "Help!", "info",
                                      "UNSUBSCRIBE", "cancel", "End", "quit", "StopAll",
                                      "revoke", "optout", "start", "unstop"])
    def test_reserved(self, text):
        assert sms.is_reserved_word(text)

    @pytest.mark.parametrize("text", ["Stop the order", "Yes please", "no", "stopped", "",
                                      "helpful", "opt out", "Cancel my order", "ok"])
    def test_not_reserved(self, text):
        assert not sms.is_reserved_word(text)

    def test_the_list(self):
        assert {"STOP", "YES", "HELP", "INFO", "START"} <= sms.RESERVED_WORDS
        assert all(word == word.upper() for word in sms.RESERVED_WORDS)
