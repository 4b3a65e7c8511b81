// The sandbox phone: send texts (and an image) through the runtime, show the threads.
// Each of Parley's numbers (the bot's, the notifications') is a thread of its own, as on a
// real phone, and either can be texted. Served as a file: the CSP allows no inline script.
// Texted content goes on the page as text nodes and <a> elements built here, never as HTML.
(function () {
  "use strict";
  const phoneEl = document.getElementById("phone");
  const select = document.getElementById("phone-select");
  const thread = document.getElementById("thread");
  const compose = document.getElementById("compose");
  const bodyInput = document.getElementById("body");
  const imageInput = document.getElementById("image");
  const errorEl = document.getElementById("error");
  const tabs = [...document.querySelectorAll(".thread-tab")];
  const threadUrl = phoneEl.dataset.threadUrl;
  const sendUrl = phoneEl.dataset.sendUrl;
  // What looks like a web address in a text; trailing punctuation is the sentence's.
  const LINK = /https?:\/\/[^\s<>"]+/g;
  const TRAILING = /[.,!?;:'")\]}]+$/;
  let current = tabs[0].dataset.number;
  let threads = {};  // Parley number -> {lastId, messages, loaded, unread}
  let polling = null;

  const stored = window.sessionStorage.getItem("parley-sandbox-phone");
  if (stored && [...select.options].some((o) => o.value === stored)) select.value = stored;

  function showError(text) {
    errorEl.textContent = text || "";
    errorEl.hidden = !text;
  }

  function webUrl(url, base) {
    // Only http(s) URLs become image sources or links.
    try {
      const parsed = base ? new URL(url, base) : new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function appendText(parent, text) {
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      const shown = match[0].replace(TRAILING, "");
      const href = webUrl(shown);
      if (!href) continue;
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const link = document.createElement("a");
      link.href = href;
      link.textContent = shown;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      parent.appendChild(link);
      last = match.index + shown.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function render(message) {
    const item = document.createElement("li");
    item.className = "msg " + message.direction;
    item.dataset.id = message.id;
    for (const url of message.media || []) {
      const src = webUrl(url, window.location.href);
      if (!src) continue;
      const img = document.createElement("img");
      img.src = src;
      img.alt = "image";
      item.appendChild(img);
    }
    if (message.body) appendText(item, message.body);
    thread.appendChild(item);
    thread.scrollTop = thread.scrollHeight;
  }

  function showUnread() {
    for (const tab of tabs) {
      const state = threads[tab.dataset.number];
      const badge = tab.querySelector(".unread");
      const count = state ? state.unread : 0;
      badge.textContent = count ? String(count) : "";
      badge.hidden = !count;
      tab.setAttribute("aria-label", tab.dataset.name + " " + tab.dataset.number +
                       (count ? ", " + count + " new" : ""));
    }
  }

  async function pollOne(phone, number) {
    const state = threads[number];
    const response = await fetch(
      threadUrl + "?phone=" + encodeURIComponent(phone) + "&number=" + encodeURIComponent(number) +
        "&after=" + state.lastId,
      { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    if (phone !== select.value || threads[number] !== state) return; // switched meanwhile
    for (const message of data.messages) {
      if (message.id <= state.lastId) continue;
      state.messages.push(message);
      state.lastId = message.id;
      if (number === current) render(message);
      else if (state.loaded && message.direction === "received") state.unread += 1;
    }
    state.loaded = true;
  }

  async function poll() {
    const phone = select.value;
    try {
      await Promise.all(tabs.map((tab) => pollOne(phone, tab.dataset.number)));
    } catch (e) {
      /* the server restarting: try again at the next tick */
    }
    showUnread();
  }

  function showThread(number) {
    current = number;
    for (const tab of tabs) tab.setAttribute("aria-selected", String(tab.dataset.number === number));
    const tab = tabs.find((t) => t.dataset.number === number);
    bodyInput.placeholder = "Text " + tab.dataset.name;
    thread.replaceChildren();
    const state = threads[number];
    state.unread = 0;
    for (const message of state.messages) render(message);
    showUnread();
  }

  function switchPhone() {
    window.sessionStorage.setItem("parley-sandbox-phone", select.value);
    threads = {};
    for (const tab of tabs) threads[tab.dataset.number] = { lastId: 0, messages: [], loaded: false, unread: 0 };
    showThread(current);
    showError("");
    poll();
  }

  compose.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData();
    form.append("phone", select.value);
    form.append("to", current);
    form.append("body", bodyInput.value);
    if (imageInput.files.length) form.append("image", imageInput.files[0]);
    showError("");
    const button = document.getElementById("send");
    button.disabled = true;
    try {
      const response = await fetch(sendUrl, {
        method: "POST", body: form, headers: { "X-Parley-Sandbox": "1" },
      });
      if (!response.ok) {
        let text = "Sending failed (" + response.status + ").";
        try { text = (await response.json()).error || text; } catch (e) { /* not JSON */ }
        showError(text);
        return;
      }
      bodyInput.value = "";
      imageInput.value = "";
      imageInput.parentElement.classList.remove("has-file");
      await poll();
    } finally {
      button.disabled = false;
      bodyInput.focus();
    }
  });

  imageInput.addEventListener("change", () => {
    imageInput.parentElement.classList.toggle("has-file", imageInput.files.length > 0);
  });

  document.getElementById("add-phone").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("new-phone");
    const number = input.value.trim();
    if (!/^\+[1-9][0-9]{6,14}$/.test(number)) {
      showError("A phone number looks like +15550100003.");
      return;
    }
    if (![...select.options].some((o) => o.value === number)) {
      select.appendChild(new Option(number, number));
    }
    select.value = number;
    input.value = "";
    switchPhone();
  });

  for (const tab of tabs) tab.addEventListener("click", () => showThread(tab.dataset.number));
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener("keydown", (event) => {
      // Arrow keys move between the threads, as in any tab list.
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      showThread(next.dataset.number);
    });
  }
  select.addEventListener("change", switchPhone);
  switchPhone();
  polling = window.setInterval(poll, 1000);
  window.addEventListener("beforeunload", () => window.clearInterval(polling));
})();
