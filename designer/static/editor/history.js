// Undo history: every edit of the working document (forms, JSON tab, node list) is kept as a
// snapshot, so undo and redo work the same whatever made the change and survive a diagram
// redraw. Nothing is lost: undone states wait on the redo stack, and whatever state the author
// lands on is an ordinary draft, marked unsaved until saved.

import { S } from "./state.js";

const LIMIT = 200;
// Keystrokes in one field within this pause make one undo step, not one per letter.
const TYPING_PAUSE_MS = 1200;

const past = [];
const future = [];
let current = null;
let lastSource = null;
let lastTime = 0;
let listener = () => {};

function snapshot() {
  return { text: JSON.stringify(S.doc), selected: S.selected };
}

export function resetHistory() {
  past.length = 0;
  future.length = 0;
  current = snapshot();
  lastSource = null;
  listener();
}

export function onHistoryChange(fn) { listener = fn; }
export function canUndo() { return past.length > 0; }
export function canRedo() { return future.length > 0; }

// Called after every change to S.doc; `source` names what made it (a form control, the JSON
// text) so that a burst of typing in one place is a single step.
export function record(source) {
  const next = snapshot();
  if (current && next.text === current.text) { current.selected = next.selected; return; }
  const now = Date.now();
  const coalesce = source && source === lastSource && now - lastTime < TYPING_PAUSE_MS &&
    past.length > 0 && future.length === 0;
  if (!coalesce && current) {
    past.push(current);
    if (past.length > LIMIT) past.shift();
  }
  current = next;
  future.length = 0;
  lastSource = source || null;
  lastTime = now;
  listener();
}

// Undo shows the node whose edit it took back; redo the node it edits again.
function move(from, to, selectLeaving) {
  if (!from.length) return null;
  const leaving = current;
  to.push(current);
  current = from.pop();
  lastSource = null;
  listener();
  return { doc: JSON.parse(current.text), selected: selectLeaving ? leaving.selected : current.selected };
}

export function undo() { return move(past, future, true); }
export function redo() { return move(future, past, false); }
