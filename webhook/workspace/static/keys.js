// Keyboard use of the workspace: single keys outside text fields (see the ? overlay in
// base.html): a accept, n next chat, r or / reply, e end, s search, q queue, ? help, Esc.
(function () {
  "use strict";
  const P = window.Parley;
  const help = document.getElementById("help");
  const helpButton = document.getElementById("keys-help");
  let opener = null;

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function showHelp(open) {
    if (open) {
      opener = document.activeElement;
      help.hidden = false;
      document.getElementById("help-close").focus();
    } else if (!help.hidden) {
      help.hidden = true;
      if (opener && opener.focus) opener.focus();
    }
  }

  function click(selector) {
    const target = document.querySelector(selector);
    if (target && !target.disabled && !target.hidden) { target.click(); return true; }
    return false;
  }

  // The next chat: after this one among mine, else the one waiting longest.
  async function nextChat() {
    const result = await P.get(document.body.dataset.queueApi);
    if (!result.ok) return;
    const chat = document.getElementById("chat");
    const here = chat ? Number(chat.dataset.conversation) : null;
    const mine = result.data.mine;
    const at = mine.findIndex((e) => e.conversation_id === here);
    const next = mine.length ? mine[(at + 1) % mine.length] : null;
    const target = next && next.conversation_id !== here ? next : result.data.waiting[0];
    if (target) window.location.assign(target.url);
  }

  function reply() {
    const box = document.getElementById("reply-body");
    if (!box || box.disabled) return false;
    box.focus();
    return true;
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (!help.hidden) { showHelp(false); event.preventDefault(); return; }
      if (typing(event.target)) { event.target.blur(); return; }
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!help.hidden && event.key !== "?") return;
    let done = true;
    switch (event.key) {
      case "?": showHelp(help.hidden); break;
      case "a": done = click("#accept") || click("#waiting button.accept"); break;
      case "n": nextChat(); break;
      case "r": done = reply(); break;
      case "/":
        if (reply()) {
          const box = document.getElementById("reply-body");
          box.value = "/";
          box.dispatchEvent(new Event("input"));
        } else done = false;
        break;
      case "e": done = click("#end"); break;
      case "s": window.location.assign(document.getElementById("nav-search").href); break;
      case "q": window.location.assign(document.querySelector("a.brand").href); break;
      default: done = false;
    }
    if (done) event.preventDefault();
  });
  helpButton.addEventListener("click", () => showHelp(true));
  document.getElementById("help-close").addEventListener("click", () => showHelp(false));
  help.addEventListener("click", (event) => { if (event.target === help) showHelp(false); });
})();
