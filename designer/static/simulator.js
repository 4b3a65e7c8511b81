// The simulator panel: a phone that chats with the draft through the runtime's engine.
// Each bot message shows exactly as the SMS reads, with its length, encoding and segments.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const editor = Parley.editor;
  const data = editor.data;
  const sim = { snapshot: null, turns: [], user: "", language: "", running: false, busy: false, photo: null };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function note(message, kind) {
    const line = $("sim-note");
    line.textContent = message || "";
    line.className = "sim-note" + (kind ? " " + kind : "");
  }

  function scrollDown() {
    const screen = $("sim-messages");
    screen.scrollTop = screen.scrollHeight;
  }

  function userBubble(text, photoName, opening) {
    const bubble = el("div", "bubble user" + (opening ? " opening" : ""));
    if (photoName) bubble.append(el("div", "photo", `[photo: ${photoName}]`));
    if (text) bubble.append(el("div", "body", text));
    if (opening) bubble.append(el("div", "meta", "opens the topic"));
    $("sim-messages").append(bubble);
  }

  function botBubble(message) {
    const bubble = el("div", "bubble bot kind-" + message.kind);
    bubble.dataset.node = message.node || "";
    for (const url of message.media) {
      const media = el("div", "media");
      if (/^(https:|\/)/.test(url)) {
        const img = document.createElement("img");
        img.src = url;
        img.alt = "image sent by the bot";
        img.loading = "lazy";
        media.append(img);
      }
      media.append(el("div", "media-url", url));
      bubble.append(media);
    }
    bubble.append(el("div", "body", message.body));
    const info = message.sms;
    const meta = el("div", "meta sms-info");
    const segments = `${info.segments} segment${info.segments === 1 ? "" : "s"}`;
    meta.append(el("span", "chars", `${info.chars} chars`), " · ",
      el("span", "encoding " + (info.encoding === "GSM-7" ? "gsm" : "ucs"), info.encoding), " · ",
      el("span", "segments" + (info.segments > 1 ? " many" : ""), segments));
    meta.title = info.encoding === "UCS-2"
      ? "A character outside the GSM-7 alphabet makes the whole message UCS-2: 70 characters per SMS (67 per part)."
      : "GSM-7: 160 characters per SMS (153 per part).";
    bubble.append(meta);
    $("sim-messages").append(bubble);
  }

  function systemLine(text, kind) {
    $("sim-messages").append(el("div", "sys-line " + (kind || ""), text));
  }

  function show(reply) {
    for (const message of reply.messages) botBubble(message);
    editor.setCurrent(reply.node, reply.visited);
    if (reply.mode === "closed") systemLine("The conversation is closed. Text again to open a new one.");
    else if (reply.mode === "handoff") systemLine("Handed off to a live agent: the bot stays silent now.", "warn");
    else if (reply.topic && reply.topic !== data.topic_id) systemLine(`Now in the topic ${reply.topic}.`);
    scrollDown();
  }

  function botItems(reply) {
    return reply.messages.map((m) => (m.media.length ? { body: m.body, media: m.media } : m.body));
  }

  function setBusy(busy) {
    sim.busy = busy;
    $("sim-send").disabled = busy;
    $("sim-restart").disabled = busy;
  }

  function refusal(result) {
    note(result.json.error || "The simulator could not answer.", "error");
    const problems = result.json.problems || [];
    const errors = problems.filter((p) => p.severity === "error");
    if (errors.length) {
      const list = el("ul", "sim-problems");
      for (const p of errors.slice(0, 6)) {
        const item = el("li", "problem error", `${p.path}: ${p.message}`);
        item.tabIndex = 0;
        item.addEventListener("click", () => editor.goToProblem(p));
        list.append(item);
      }
      $("sim-messages").append(list);
    }
  }

  // Says whose account the simulated phone is linked to, as the server reports it after each
  // turn: a guest who links in the chat becomes linked, a sample user starts linked.
  function showAccount(reply) {
    if (!("account" in reply)) return;
    const who = reply.account;
    $("sim-account").textContent = who
      ? `This phone is linked to ${who.display_name}'s account (sample records).`
      : "A guest: this phone is not linked to an account.";
  }

  async function start() {
    if (sim.busy) return;
    setBusy(true);
    note("");
    $("sim-messages").replaceChildren();
    sim.snapshot = JSON.parse(JSON.stringify(editor.document()));
    sim.turns = [];
    sim.user = $("sim-user").value;
    sim.language = $("sim-language").value;
    $("sim-topic").textContent = textIn(sim.snapshot.name, sim.language) || data.topic_id;
    try {
      const result = await editor.api(data.urls.sim_start, { document: sim.snapshot, user: sim.user, language: sim.language || undefined });
      if (!result.ok) { sim.running = false; refusal(result); return; }
      sim.running = true;
      userBubble(result.json.opening, null, true);
      sim.turns.push({ user: result.json.opening, bot: botItems(result.json) });
      show(result.json);
      showAccount(result.json);
      $("sim-input").focus();
    } finally {
      setBusy(false);
    }
  }

  async function send(text, photo) {
    if (sim.busy) return;
    if (!sim.running) { await start(); if (!sim.running) return; }
    setBusy(true);
    note("");
    userBubble(text, photo && photo.name, false);
    scrollDown();
    const body = { document: sim.snapshot, text, turn: sim.turns.length };
    if (photo) body.photo = { content_type: photo.type || "image/jpeg" };
    try {
      const result = await editor.api(data.urls.sim_send, body);
      if (!result.ok) { refusal(result); return; }
      const turn = { user: text, bot: botItems(result.json) };
      if (photo) turn.media = [{ content_type: photo.type || "image/jpeg" }];
      sim.turns.push(turn);
      show(result.json);
      showAccount(result.json);
    } finally {
      setBusy(false);
    }
  }

  async function saveTest() {
    if (!sim.turns.length) { note("Chat first, then save the conversation as a test.", "error"); return; }
    const name = $("sim-test-name").value.trim() || `${sim.snapshot.name || data.topic_id}: ${sim.turns.length} turns`;
    const result = await editor.api(data.urls.transcripts, { document: sim.snapshot, name, user: sim.user || undefined, language: sim.language || undefined, turns: sim.turns });
    if (!result.ok) {
      note([result.json.error, ...(result.json.details || [])].join("\n"), "error");
      return;
    }
    const line = $("sim-note");
    line.replaceChildren(el("span", null, result.json.message + " "));
    const link = el("a", null, "Download it");
    link.href = result.json.download_url;
    link.setAttribute("download", "");
    line.append(link);
    line.className = "sim-note ok";
    $("sim-test-name").value = "";
    editor.addTranscript({ id: result.json.id, name: result.json.name, author: "you", created_at: new Date().toISOString() });
  }

  function open() {
    $("simulator").classList.remove("hidden");
    $("workspace").classList.add("with-sim");
    $("sim-toggle").classList.add("active");
    languageOptions();
    start();
  }

  // A topic text: a string, or one string per language code.
  function textIn(value, language) {
    if (value && typeof value === "object") return value[language] || Object.values(value)[0] || "";
    return value || "";
  }

  // The picker lists the languages the topic declares; a topic in one language hides it.
  function languageOptions() {
    const doc = editor.document() || {};
    const codes = Array.isArray(doc.languages) ? doc.languages.filter((c) => typeof c === "string") : [];
    const select = $("sim-language");
    const current = select.value;
    const options = codes.map((code) => {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = data.language_names[code] ? `${data.language_names[code]} (${code})` : code;
      return option;
    });
    select.replaceChildren(...options);
    if (codes.includes(current)) select.value = current;
    else if (codes.includes(doc.default_language)) select.value = doc.default_language;
    $("sim-language-label").classList.toggle("hidden", codes.length < 2);
  }

  function close() {
    $("simulator").classList.add("hidden");
    $("workspace").classList.remove("with-sim");
    $("sim-toggle").classList.remove("active");
    editor.setCurrent(null, []);
  }

  for (const user of data.sample_users) {
    const option = document.createElement("option");
    option.value = user.user_name;
    option.textContent = `${user.display_name} (sample user)`;
    $("sim-user").append(option);
  }
  $("sim-toggle").addEventListener("click", () => ($("simulator").classList.contains("hidden") ? open() : close()));
  $("sim-close").addEventListener("click", close);
  $("sim-restart").addEventListener("click", start);
  $("sim-user").addEventListener("change", start);
  $("sim-language").addEventListener("change", start);
  $("sim-save").addEventListener("click", saveTest);
  $("sim-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("sim-input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text, null);
  });
  $("sim-photo").addEventListener("change", () => {
    const file = $("sim-photo").files[0];
    if (!file) return;
    const text = $("sim-input").value;
    $("sim-input").value = "";
    send(text, file);
    $("sim-photo").value = "";
  });
})();
