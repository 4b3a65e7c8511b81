// Small pop-ups on the canvas: a menu to pick from (a node kind, an exit) and a text box (a
// new id). Both work by keyboard (arrows, Enter, Escape) and resolve a promise with the
// choice, or null when dismissed.

import { el } from "../util.js";

let open = null;

function place(box, x, y) {
  document.body.append(box);
  const r = box.getBoundingClientRect();
  box.style.left = Math.max(4, Math.min(x, window.innerWidth - r.width - 4)) + "px";
  box.style.top = Math.max(4, Math.min(y, window.innerHeight - r.height - 4)) + "px";
}

export function dismiss() { if (open) open(null); }
export function isOpen() { return open !== null; }

function modal(box, finish) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const outside = (e) => { if (!box.contains(e.target)) done(null); };
    const done = (value) => {
      if (open !== done) return;
      open = null;
      document.removeEventListener("pointerdown", outside, true);
      box.remove();
      if (opener && opener.isConnected && opener.focus) opener.focus({ preventScroll: true });
      resolve(value);
    };
    open = done;
    finish(done);
    document.addEventListener("pointerdown", outside, true);
  });
}

// items: [{ value, label }]; resolves with the value picked.
export function chooseFrom({ x, y, title, items }) {
  dismiss();
  const buttons = items.map((item) => el("button", { type: "button", role: "menuitem", className: "menu-item",
    dataset: { value: String(item.value) }, text: item.label }));
  const box = el("div", { className: "canvas-menu", role: "menu", "aria-label": title },
    el("div", { className: "menu-title", text: title }), buttons);
  return modal(box, (done) => {
    buttons.forEach((b, i) => b.addEventListener("click", () => done(items[i].value)));
    box.addEventListener("keydown", (e) => {
      const at = buttons.indexOf(document.activeElement);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        const step = e.key === "ArrowDown" ? 1 : -1;
        buttons[(at + step + buttons.length) % buttons.length].focus();
      } else if (e.key === "Escape") done(null);
      else if (e.key.length === 1 && /\w/.test(e.key)) {
        // Type-ahead: the next item whose label has a word starting with the letter.
        const k = e.key.toLowerCase();
        const order = buttons.slice(at + 1).concat(buttons.slice(0, at + 1));
        const hit = order.find((b) => b.textContent.toLowerCase().split(/[^a-z]+/).some((w) => w.startsWith(k)));
        if (hit) hit.focus();
      } else return;
      e.preventDefault();
      e.stopPropagation();
    });
    place(box, x, y);
    if (buttons[0]) buttons[0].focus();
  });
}

// A one-line text box over a spot of the diagram; resolves with the text on Enter.
export function askText({ x, y, label, value }) {
  dismiss();
  const input = el("input", { className: "mono", value, "aria-label": label, maxlength: 64 });
  const box = el("div", { className: "canvas-menu canvas-prompt" }, el("label", { className: "menu-title", text: label }), input);
  return modal(box, (done) => {
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") done(input.value);
      else if (e.key === "Escape") done(null);
      else return;
      e.preventDefault();
      e.stopPropagation();
    });
    input.addEventListener("blur", () => setTimeout(() => done(null), 0));
    place(box, x, y);
    input.focus();
    input.select();
  });
}
