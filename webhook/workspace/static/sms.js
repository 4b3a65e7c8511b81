// engine/sms.py's describe() in the browser: length, GSM-7 or UCS-2, and billed segments of
// a reply before it is sent. tests/agents/test_sms_js.py checks it against engine/sms.py
// over many strings; change the two together.
(function (root) {
  "use strict";
  const GSM7_BASIC = new Set(Array.from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"));
  const GSM7_EXTENDED = new Set(Array.from("\f^{}\\[~]|€"));
  const SINGLE = {"GSM-7": 160, "UCS-2": 70};
  const PART = {"GSM-7": 153, "UCS-2": 67};
  const MAX_MESSAGE_CHARS = 1600;

  function isGsm7(ch) {
    return GSM7_BASIC.has(ch) || GSM7_EXTENDED.has(ch);
  }

  function describe(text) {
    const chars = Array.from(text);  // code points, as Python's len()
    const encoding = chars.every(isGsm7) ? "GSM-7" : "UCS-2";
    const sizes = chars.map((ch) => encoding === "GSM-7"
      ? (GSM7_EXTENDED.has(ch) ? 2 : 1)
      : (ch.codePointAt(0) > 0xFFFF ? 2 : 1));
    const units = sizes.reduce((a, b) => a + b, 0);
    let segments;
    if (units === 0) segments = 0;
    else if (units <= SINGLE[encoding]) segments = 1;
    else {
      // Greedy packing: an escape sequence or a surrogate pair is never split across parts.
      segments = 1;
      let used = 0;
      for (const size of sizes) {
        if (used + size > PART[encoding]) { segments += 1; used = 0; }
        used += size;
      }
    }
    return {chars: chars.length, encoding, segments, units};
  }

  const api = {describe, isGsm7, MAX_MESSAGE_CHARS};
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.ParleySms = api;
})(typeof window !== "undefined" ? window : globalThis);
