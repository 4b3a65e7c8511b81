// The supervisor's floor: the page is drawn on the server; it is drawn again when the push
// channel (live.js) tells of a change to a chat (queued, accepted, ended, moved), and every
// 30 seconds for the wait times, except while the supervisor is choosing where to move a chat.
(function () {
  "use strict";
  const P = window.Parley;
  const CHANGES = new Set(["queued", "accepted", "ended", "requeued", "resync"]);
  const TICK_MS = 30000;
  let pending = null;

  function reload() {
    const active = document.activeElement;
    if (active && active.closest("form")) return;
    window.location.reload();
  }

  P.live.on((data) => {
    if (!CHANGES.has(data.kind) || pending) return;
    pending = window.setTimeout(() => { pending = null; reload(); }, 300);
  });
  P.live.start();
  window.setInterval(reload, TICK_MS);
})();
