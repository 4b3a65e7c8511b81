// The push channel of every workspace page: one EventSource on api/events, resumed from the
// last event id after any drop (the browser sends Last-Event-ID; after a refused or failed
// stream we open a new one from the same id), plus what tells an agent a chat arrived: a
// sound made with WebAudio (no file), a browser notification (once allowed) and the number
// of waiting chats in the tab title. Pages subscribe with Parley.live.on(handler).
(function () {
  "use strict";
  const P = window.Parley;
  const body = document.body;
  const handlers = [];
  const waiting = new Set();  // ids of chats nobody accepted yet
  const baseTitle = document.title;
  const RETRY_MS = 3000;
  let source = null;
  let lastId = null;
  let audio = null;
  const alerts = {sounds: 0, notifications: 0};

  function emit(data) {
    for (const handler of handlers) handler(data);
  }

  function showCount() {
    document.title = (waiting.size ? "(" + waiting.size + ") " : "") + baseTitle;
    body.dataset.waiting = String(waiting.size);
  }

  // Browsers let a page make sound only after the user did something on it.
  function unlockAudio() {
    if (audio || !window.AudioContext) return;
    audio = new window.AudioContext();
  }

  function chime() {
    alerts.sounds += 1;
    body.dataset.sounds = String(alerts.sounds);
    if (!audio) return;
    if (audio.state === "suspended") audio.resume();
    const start = audio.currentTime;
    [660, 880].forEach((pitch, index) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = pitch;
      gain.gain.setValueAtTime(0.0001, start + index * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, start + index * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + index * 0.18 + 0.16);
      tone.connect(gain).connect(audio.destination);
      tone.start(start + index * 0.18);
      tone.stop(start + index * 0.18 + 0.17);
    });
  }

  function notify(entry) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    alerts.notifications += 1;
    body.dataset.notifications = String(alerts.notifications);
    const note = new Notification("New chat waiting", {
      body: (entry.user || entry.phone) + (entry.last_text ? ": " + entry.last_text : ""),
      tag: "parley-chat-" + entry.id,
    });
    note.onclick = () => { window.focus(); window.location.assign(entry.url); };
  }

  function track(data) {
    const entry = data.entry;
    if (!entry || !data.state) return;
    const open = data.state.state === "waiting" && entry.kind === "chat";
    if (open && !waiting.has(entry.id)) {
      waiting.add(entry.id);
      chime();
      notify(entry);
    } else if (!open) {
      waiting.delete(entry.id);
    }
    showCount();
  }

  function connect() {
    source = new EventSource(body.dataset.events + "?after=" + lastId);
    source.addEventListener("desk", (event) => {
      lastId = Number(event.lastEventId);
      const data = JSON.parse(event.data);
      track(data);
      emit(data);
    });
    source.addEventListener("skip", (event) => {
      lastId = Number(event.lastEventId);
      const data = JSON.parse(event.data);
      emit({kind: "hidden", conversation_id: data.conversation_id});
    });
    source.addEventListener("resync", (event) => {
      lastId = Number(event.lastEventId);
      refreshWaiting();
      emit({kind: "resync"});
    });
    source.addEventListener("signed_out", () => {
      source.close();
      window.location.reload();  // the server sends the sign-in page
    });
    source.addEventListener("open", () => { body.dataset.live = "open"; });
    source.onerror = () => {
      body.dataset.live = "reconnecting";
      if (source.readyState !== EventSource.CLOSED) return;  // the browser retries itself
      // Refused (all streams busy) or failed: poll the snapshot once and try again later.
      emit({kind: "resync"});
      window.setTimeout(connect, RETRY_MS);
    };
  }

  async function refreshWaiting() {
    const result = await P.get(body.dataset.queueApi);
    if (!result.ok) return null;
    waiting.clear();
    for (const entry of result.data.waiting) waiting.add(entry.id);
    showCount();
    return result.data;
  }

  // Starts the stream after `eventId`, the id a page's first snapshot carried.
  async function start(eventId) {
    if (source) return;
    const queue = await refreshWaiting();
    lastId = eventId !== undefined ? eventId : (queue ? queue.event_id : 0);
    connect();
  }

  async function askPermission() {
    unlockAudio();
    if ("Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    const button = document.getElementById("alerts");
    if (button) button.hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  document.addEventListener("pointerdown", unlockAudio, {once: true});
  document.addEventListener("keydown", unlockAudio, {once: true});
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("alerts");
    if (!button) return;
    button.hidden = !("Notification" in window) || Notification.permission !== "default";
    button.addEventListener("click", askPermission);
  });

  P.live = {on: (handler) => handlers.push(handler), start, alerts,
            last: () => lastId};
})();
