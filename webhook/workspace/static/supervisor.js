// The supervisor's floor: the page is drawn on the server; reload it every few seconds,
// except while the supervisor is choosing where to move a chat.
(function () {
  "use strict";
  const RELOAD_MS = 5000;
  window.setInterval(() => {
    const active = document.activeElement;
    if (active && active.closest("form")) return;
    window.location.reload();
  }, RELOAD_MS);
})();
