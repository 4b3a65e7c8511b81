// One conversation: the whole history (bot turns included), new messages, photos and
// delivery statuses as the push channel (live.js) brings them, and the agent's replies,
// notes and actions. The snapshot (api/conversations/<id>) is loaded first and again after
// a resync; a message is placed by its id, so one told twice is still shown once.
(function () {
  "use strict";
  const P = window.Parley;
  const chat = document.getElementById("chat");
  const list = document.getElementById("messages");
  const stateEl = document.getElementById("chat-state");
  const errorEl = document.getElementById("chat-error");
  const acceptButton = document.getElementById("accept");
  const form = document.getElementById("reply");
  const noteForm = document.getElementById("note");
  const notesEl = document.getElementById("notes");
  const conversationId = Number(chat.dataset.conversation);
  const SENDERS = {user: "User", bot: "Bot", agent: "Agent", system: "System"};
  const shown = new Map();  // message id -> its <li>
  const watched = new Set();  // ids whose status or media may still change
  let lastId = 0;
  let entry = null;
  let busy = false;
  let stick = true;  // keep the newest message in view unless the agent scrolled up

  list.addEventListener("scroll", () => {
    stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  });

  function seen() {
    if (document.visibilityState === "visible" && lastId) P.markSeen(conversationId, lastId);
  }

  function follow() {
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function mediaNode(media) {
    if (media.src) {
      const img = P.el("img", "media");
      img.addEventListener("load", follow);  // an image grows the list once it arrives
      img.src = media.src;
      img.alt = "image";
      return img;
    }
    if (media.state === "failed") return P.el("span", "media-note", "Image not kept: " + media.error);
    return P.el("span", "media-note", "Image on its way…");
  }

  function statusText(message) {
    if (!message.status) return "";
    return message.reason ? message.status + ": " + message.reason : message.status;
  }

  function render(message) {
    const item = P.el("li", "msg " + message.direction + " " + message.sender + " kind-" + message.kind);
    item.dataset.id = message.id;
    const head = P.el("div", "meta");
    head.appendChild(P.el("span", "sender", SENDERS[message.sender] || message.sender));
    head.appendChild(P.el("time", null, P.time(message.created_at)));
    item.appendChild(head);
    const media = P.el("div", "media-list");
    for (const m of message.media) media.appendChild(mediaNode(m));
    item.appendChild(media);
    if (message.body) item.appendChild(P.el("p", "body", message.body));
    const status = P.el("div", "status " + (message.status || ""), statusText(message));
    item.appendChild(status);
    return item;
  }

  function place(message) {
    const item = render(message);
    const old = shown.get(message.id);
    if (old) old.replaceWith(item); else list.appendChild(item);
    shown.set(message.id, item);
    if (message.final) watched.delete(message.id); else watched.add(message.id);
  }

  function showEntry(current) {
    entry = current;
    stateEl.textContent = current.text;  // worded by the server, as on the first load
    stateEl.className = "state " + current.state;
    acceptButton.hidden = current.state !== "waiting";
    const mine = current.state === "mine";
    for (const control of document.querySelectorAll("#reply button, #reply textarea, #reply input, #reply select, #actions button")) {
      control.disabled = !mine;
    }
  }

  function showNotes(notes) {
    notesEl.replaceChildren(...notes.map((note) => {
      const li = P.el("li");
      li.appendChild(P.el("span", "meta", (note.agent_name || "agent") + " · " + P.time(note.created_at)));
      li.appendChild(P.el("p", "body", note.body));
      return li;
    }));
  }

  async function poll() {
    if (busy) return;
    busy = true;
    try {
      const url = chat.dataset.api + "?after=" + lastId + "&watch=" + [...watched].join(",");
      const result = await P.get(url);
      if (!result.ok) {
        // 403: a supervisor moved the chat to a queue this agent does not serve.
        if (result.status === 403) P.showError(errorEl, result.data.error);
        return;
      }
      for (const message of result.data.messages) {
        place(message);
        lastId = Math.max(lastId, message.id);
      }
      for (const message of result.data.updates) place(message);
      showEntry(result.data.entry);
      showNotes(result.data.notes);
      follow();
      seen();
      chat.dataset.loaded = "1";
      return result.data;
    } finally {
      busy = false;
    }
  }

  function pushed(data) {
    if (data.kind === "resync") { poll(); return; }
    if (data.conversation_id !== conversationId) return;
    if (data.kind === "hidden") { poll(); return; }  // out of this agent's queues now?
    if (data.message) {
      place(data.message);
      lastId = Math.max(lastId, data.message.id);
      follow();
      seen();
    }
    if (data.state) showEntry(data.state);
    if (data.notes) showNotes(data.notes);
  }

  function selectedKind() {
    return form.querySelector('input[name="kind"]:checked').value;
  }

  function showPane() {
    const kind = selectedKind();
    for (const pane of form.querySelectorAll(".pane")) pane.hidden = pane.dataset.kind !== kind;
  }

  async function send(event) {
    event.preventDefault();
    P.showError(errorEl, "");
    const result = await P.post(form.action, new FormData(form));
    if (!result.ok) {
      P.showError(errorEl, result.data.error || "The reply was not sent.");
      return;
    }
    form.querySelector("#reply-body").value = "";
    form.querySelector("#reply-image").value = "";
    form.querySelector("#reply-caption").value = "";
    const number = form.querySelector("#reply-number");  // absent when there are no cases
    if (number) number.value = "";
    form.querySelector("#reply-body").dispatchEvent(new Event("input"));
  }

  async function act(event) {
    event.preventDefault();
    const target = event.currentTarget;
    if (target.dataset.confirm && !window.confirm(target.dataset.confirm)) return;
    const result = await P.post(target.action, new FormData(target));
    if (!result.ok) P.showError(errorEl, result.data.error || "That did not work.");
    if (target === noteForm && result.ok) noteForm.querySelector("textarea").value = "";
  }

  async function accept() {
    if (!entry) return;  // the page is still loading
    const result = await P.post(entry.accept_url, new FormData());
    if (!result.ok) P.showError(errorEl, result.data.error || "The chat could not be accepted.");
  }

  for (const radio of form.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", showPane);
  form.addEventListener("submit", send);
  document.getElementById("reply-body").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  for (const actionForm of document.querySelectorAll("#actions form")) actionForm.addEventListener("submit", act);
  noteForm.addEventListener("submit", act);
  acceptButton.addEventListener("click", accept);
  document.addEventListener("visibilitychange", seen);
  showPane();
  P.live.on(pushed);
  poll().then((data) => P.live.start(data ? data.event_id : undefined));
  window.Parley.chat = {accept, entry: () => entry};
})();
