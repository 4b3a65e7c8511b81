// The sandbox phone: send texts (and an image) through the runtime, show the thread.
// Served as a file: the page's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  const phoneEl = document.getElementById("phone");
  const select = document.getElementById("phone-select");
  const thread = document.getElementById("thread");
  const compose = document.getElementById("compose");
  const bodyInput = document.getElementById("body");
  const imageInput = document.getElementById("image");
  const errorEl = document.getElementById("error");
  const smsNumber = phoneEl.dataset.smsNumber;
  const threadUrl = phoneEl.dataset.threadUrl;
  const sendUrl = phoneEl.dataset.sendUrl;
  let lastId = 0;
  let polling = null;

  const stored = window.sessionStorage.getItem("parley-sandbox-phone");
  if (stored && [...select.options].some((o) => o.value === stored)) select.value = stored;

  function showError(text) {
    errorEl.textContent = text || "";
    errorEl.hidden = !text;
  }

  function safeUrl(url) {
    // Only web and same-site URLs become image sources.
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function render(message) {
    const item = document.createElement("li");
    item.className = "msg " + message.direction;
    item.dataset.id = message.id;
    for (const url of message.media || []) {
      const src = safeUrl(url);
      if (!src) continue;
      const img = document.createElement("img");
      img.src = src;
      img.alt = "image";
      item.appendChild(img);
    }
    if (message.body) item.appendChild(document.createTextNode(message.body));
    if (message.direction === "received" && message.number !== smsNumber) {
      const from = document.createElement("span");
      from.className = "from";
      from.textContent = "from " + message.number;
      item.appendChild(from);
    }
    thread.appendChild(item);
    thread.scrollTop = thread.scrollHeight;
  }

  async function poll() {
    const phone = select.value;
    try {
      const response = await fetch(
        threadUrl + "?phone=" + encodeURIComponent(phone) + "&after=" + lastId,
        { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      if (phone !== select.value) return; // switched phones meanwhile
      for (const message of data.messages) {
        if (message.id > lastId) {
          render(message);
          lastId = message.id;
        }
      }
    } catch (e) {
      /* the server restarting: try again at the next tick */
    }
  }

  function switchPhone() {
    window.sessionStorage.setItem("parley-sandbox-phone", select.value);
    thread.replaceChildren();
    lastId = 0;
    showError("");
    poll();
  }

  compose.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData();
    form.append("phone", select.value);
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

  select.addEventListener("change", switchPhone);
  switchPhone();
  polling = window.setInterval(poll, 1000);
  window.addEventListener("beforeunload", () => window.clearInterval(polling));
})();
