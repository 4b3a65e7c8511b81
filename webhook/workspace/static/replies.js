// The reply box: its SMS count as the user's phone will bill it (sms.js, the same rules as
// engine/sms.py), and saved replies inserted by typing / and a name (arrows choose, Enter or
// Tab inserts, Esc closes). Replies come rendered for this chat from the server.
(function () {
  "use strict";
  const P = window.Parley;
  const chat = document.getElementById("chat");
  const form = document.getElementById("reply");
  const box = document.getElementById("reply-body");
  const counter = document.getElementById("reply-count");
  const list = document.getElementById("reply-suggestions");
  let replies = null;  // loaded on the first "/"
  let shown = [];
  let selected = 0;

  function count() {
    const text = box.value;
    if (!text) { counter.textContent = ""; return; }
    const info = window.ParleySms.describe(text);
    let line = info.chars + " character" + (info.chars === 1 ? "" : "s") + " · " +
      info.encoding + " · " + info.segments + " segment" + (info.segments === 1 ? "" : "s");
    if (info.encoding === "UCS-2") {
      const odd = Array.from(text).find((ch) => !window.ParleySms.isGsm7(ch));
      line += " (UCS-2 because of “" + odd + "”)";
    }
    counter.textContent = line;
    counter.classList.toggle("many", info.segments > 1);
    counter.dataset.segments = String(info.segments);
    counter.dataset.encoding = info.encoding;
  }

  // The "/name" being typed: from a "/" at the start or after a blank, up to the caret.
  function command() {
    const before = box.value.slice(0, box.selectionStart);
    const match = before.match(/(^|\s)\/([a-z0-9_-]*)$/);
    return match ? {start: before.length - match[2].length - 1, name: match[2]} : null;
  }

  async function load() {
    if (replies !== null) return replies;
    replies = [];
    const result = await P.get(chat.dataset.replies);
    if (result.ok) replies = result.data.replies;
    return replies;
  }

  function hide() {
    list.hidden = true;
    shown = [];
  }

  function draw() {
    list.replaceChildren(...shown.map((reply, index) => {
      const li = P.el("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", index === selected ? "true" : "false");
      li.appendChild(P.el("code", null, "/" + reply.name));
      li.appendChild(P.el("span", null, reply.text.length > 80 ? reply.text.slice(0, 77) + "…" : reply.text));
      li.addEventListener("mousedown", (event) => { event.preventDefault(); insert(reply); });
      return li;
    }));
    list.hidden = shown.length === 0;
  }

  async function suggest() {
    const typed = command();
    if (!typed) { hide(); return; }
    const all = await load();
    const now = command();  // the box may have changed while the list loaded
    if (!now) { hide(); return; }
    shown = all.filter((reply) => reply.name.startsWith(now.name)).slice(0, 8);
    selected = Math.min(selected, Math.max(0, shown.length - 1));
    draw();
  }

  function insert(reply) {
    const typed = command();
    if (!typed) return;
    const end = box.selectionStart;
    box.value = box.value.slice(0, typed.start) + reply.text + box.value.slice(end);
    const caret = typed.start + reply.text.length;
    box.setSelectionRange(caret, caret);
    hide();
    count();
    box.focus();
  }

  // Capture phase on the form: before the box's own Enter-sends handler (conversation.js).
  form.addEventListener("keydown", (event) => {
    if (event.target !== box || list.hidden || !shown.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      selected = (selected + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if (event.key === "Enter" || event.key === "Tab") {
      insert(shown[selected]);
    } else if (event.key === "Escape") {
      hide();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);
  box.addEventListener("input", () => { count(); selected = 0; suggest(); });
  box.addEventListener("blur", () => window.setTimeout(hide, 150));
  count();
})();
