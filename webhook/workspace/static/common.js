// Helpers shared by the workspace pages. Served as a file: the CSP allows no inline script.
// Everything a user or an agent wrote is put on the page with textContent, never as HTML.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="csrf-token"]');

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function request(url, options) {
    const headers = {"Accept": "application/json", "X-Requested-With": "fetch"};
    if (options && options.method === "POST" && token) headers["X-CSRFToken"] = token.content;
    let response;
    try {
      response = await fetch(url, Object.assign({credentials: "same-origin", headers}, options));
    } catch (e) {
      return {ok: false, status: 0, data: {error: "The workspace cannot reach the server."}};
    }
    if (response.status === 401) {
      window.location.reload();  // the sign-in ended: the server redirects to the sign-in page
      return {ok: false, status: 401, data: {}};
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = {error: "Unexpected answer " + response.status}; }
    return {ok: response.ok, status: response.status, data};
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function time(iso) {
    const date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function showError(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  // What this browser last showed of each chat (for unread counts), kept in localStorage.
  const SEEN = "parley.seen";

  function seenMap() {
    try { return JSON.parse(window.localStorage.getItem(SEEN) || "{}"); } catch (e) { return {}; }
  }

  function markSeen(conversationId, messageId) {
    const seen = seenMap();
    if ((seen[conversationId] || 0) >= messageId) return;
    seen[conversationId] = messageId;
    const kept = Object.entries(seen).sort((a, b) => b[1] - a[1]).slice(0, 200);
    try { window.localStorage.setItem(SEEN, JSON.stringify(Object.fromEntries(kept))); } catch (e) { /* private mode */ }
  }

  function seenList() {
    return Object.entries(seenMap()).map(([c, m]) => c + ":" + m).join(",");
  }

  window.Parley = {el, get: (url) => request(url, {method: "GET"}),
                   post: (url, body) => request(url, {method: "POST", body}),
                   duration, time, showError, markSeen, seenList};
})();
