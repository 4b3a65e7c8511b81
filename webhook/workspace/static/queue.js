// The queue: who waits (and how long), my chats (with unread counts), callback requests.
// Loaded once, then again whenever the push channel (live.js) tells of a change to a chat;
// accepting is a POST that only one agent can win.
(function () {
  "use strict";
  const P = window.Parley;
  const root = document.getElementById("queue");
  const errorEl = document.getElementById("queue-error");
  const TICK_MS = 15000;  // the "waiting" times move on even when nothing happens
  let unread = {};
  let pending = null;

  function row(entry, action) {
    const tr = P.el("tr");
    tr.dataset.entry = entry.id;
    tr.dataset.conversation = entry.conversation_id;
    tr.appendChild(P.el("td", "phone", entry.phone));
    tr.appendChild(P.el("td", "queue-name", entry.queue));
    tr.appendChild(P.el("td", null, entry.user || "guest"));
    tr.appendChild(P.el("td", null, entry.reason));
    const preview = P.el("td", "preview", entry.last_text);
    const count = unread[entry.conversation_id];
    if (action === "open" && count) {
      const badge = P.el("span", "unread", count);
      badge.title = count + " unread";
      preview.prepend(badge);
    }
    tr.appendChild(preview);
    tr.appendChild(P.el("td", "waited", P.duration(entry.waited)));
    const cell = P.el("td");
    if (action === "accept") {
      const button = P.el("button", "accept", "Accept");
      button.type = "button";
      button.addEventListener("click", () => accept(entry, button));
      cell.appendChild(button);
      const view = P.el("a", "view", "View");
      view.href = entry.url;
      cell.appendChild(view);
    } else {
      const open = P.el("a", "open", "Open");
      open.href = entry.url;
      cell.appendChild(open);
    }
    tr.appendChild(cell);
    return tr;
  }

  function fill(name, entries, action) {
    const body = document.getElementById(name);
    body.replaceChildren(...entries.map((e) => row(e, action)));
    document.getElementById(name + "-count").textContent = entries.length;
    document.getElementById(name + "-empty").hidden = entries.length > 0;
  }

  async function accept(entry, button) {
    button.disabled = true;
    const result = await P.post(entry.accept_url, new FormData());
    if (result.ok) {
      window.location.assign(result.data.url);
      return;
    }
    P.showError(errorEl, result.data.error || "The chat could not be accepted.");
    refresh();
  }

  async function refresh() {
    const result = await P.get(root.dataset.api + "?seen=" + P.seenList());
    if (!result.ok) {
      if (result.status) P.showError(errorEl, result.data.error);
      return null;
    }
    const data = result.data;
    unread = data.unread;
    fill("waiting", data.waiting, "accept");
    fill("mine", data.mine, "open");
    fill("callbacks", data.callbacks, "accept");
    const ended = document.getElementById("ended");
    ended.replaceChildren(...data.ended.map((e) => {
      const li = P.el("li");
      const link = P.el("a", "chat-link", e.phone);
      link.href = e.url;
      li.appendChild(link);
      li.appendChild(P.el("span", "who", e.user || "guest"));
      li.appendChild(P.el("span", "outcome", e.outcome_text));
      return li;
    }));
    document.getElementById("ended-empty").hidden = data.ended.length > 0;
    document.getElementById("presence").textContent = data.presence;
    document.getElementById("my-queues").textContent =
      "Queues: " + data.queues.join(", ") + " · up to " + data.capacity + " chats at once";
    root.dataset.loaded = "1";
    return data;
  }

  // A change to the queue reloads it at once; a message (a preview, an unread count) within
  // a second, so a busy desk costs each page at most one reload a second. Statuses, photos
  // and notes do not show here.
  const QUEUE_KINDS = new Set(["queued", "accepted", "ended", "requeued", "resync"]);

  function soon(data) {
    if (!QUEUE_KINDS.has(data.kind) && data.kind !== "message") return;
    const delay = QUEUE_KINDS.has(data.kind) ? 50 : 1000;
    if (pending && pending.delay <= delay) return;
    if (pending) window.clearTimeout(pending.timer);
    pending = {delay, timer: window.setTimeout(() => { pending = null; refresh(); }, delay)};
  }

  P.live.on(soon);
  refresh().then((data) => P.live.start(data ? data.event_id : undefined));
  window.setInterval(refresh, TICK_MS);
})();
