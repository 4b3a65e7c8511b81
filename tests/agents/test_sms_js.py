"""The reply box's SMS counter (webhook/workspace/static/sms.js) agrees with engine/sms.py:
length, encoding and segments of many strings, run by node."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from engine import sms

SMS_JS = Path(__file__).resolve().parents[2] / "webhook" / "workspace" / "static" / "sms.js"
ALPHABET = (sorted(sms.GSM7_BASIC) + sorted(sms.GSM7_EXTENDED)
            + list("çáíóúñ¿¡ЖжΩ中文😀👍🏽\u200d\u0301\t"))


def samples() -> list[str]:
    rng = random.Random(15)
    fixed = ["", "a", "x" * 160, "x" * 161, "x" * 306, "x" * 307, "€" * 80, "€" * 81,
             "é" * 70, "ç" * 70, "ç" * 71, "😀" * 35, "😀" * 36, "a" * 152 + "€",
             "a" * 152 + "€" + "a" * 200, "ç" * 66 + "😀" + "ç" * 10, "Line\r\nbreak",
             "Hi {{ user.display_name }}, case CS0010001 [done] ~ ok"]
    made = []
    for _ in range(500):
        length = rng.choice([rng.randint(0, 40), rng.randint(60, 200), rng.randint(300, 1700)])
        pool = ALPHABET if rng.random() < 0.5 else sorted(sms.GSM7_BASIC | sms.GSM7_EXTENDED)
        made.append("".join(rng.choice(pool) for _ in range(length)))
    return fixed + made


def test_the_port_agrees_with_engine_sms_on_every_sample():
    texts = samples()
    script = (f"const sms = require({json.dumps(str(SMS_JS))});"
              "const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify(texts.map(sms.describe)));")
    done = subprocess.run(["node", "-e", script], input=json.dumps(texts), text=True,
                          capture_output=True, check=True)
    ported = json.loads(done.stdout)
    expected = [{"chars": i.chars, "encoding": i.encoding, "segments": i.segments,
                 "units": i.units} for i in map(sms.describe, texts)]
    mismatches = [(t[:40], p, e) for t, p, e in zip(texts, ported, expected, strict=True)
                  if p != e]
    assert mismatches == []
    assert {e["encoding"] for e in expected} == {"GSM-7", "UCS-2"}
    assert max(e["segments"] for e in expected) > 10
