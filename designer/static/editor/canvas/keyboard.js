// The diagram by keyboard. With a node focused: arrows move to the nearest node that way
// (linked ones first), Enter opens its form, c connects it to a node picked with arrows or
// by typing its id (1-9 choose the exit), n adds a node after it (on a selected arrow: inserts
// one there), e selects its arrows in turn, F2 renames, Delete deletes, Ctrl+C / Ctrl+V copy
// and paste. With nothing selected the arrows pan; + - 0 zoom. ? shows the keys.

import { $, S } from "../state.js";
import { nodeIndex, nodes, status } from "../util.js";
import { setTab } from "../forms.js";
import { markDiagram } from "../diagram.js";
import { addConnected, deleteEdge, deleteNodes, exitLabel, insertOnEdge, kindChoices } from "./edits.js";
import { exitsOf, neighbours, parseEdge } from "./exits.js";
import { chooseFrom, isOpen } from "./picker.js";
import { copySelection, paste } from "./clipboard.js";
import { connectTo, pickExit, renameAt } from "./drag.js";
import { clearSelection, nodeGroup, selectEdge, selectNode, selectedIds, svg } from "./select.js";
import { fit, pan, zoomAt } from "./zoom.js";

const PAN_STEP = 80;
const TYPE_AHEAD_MS = 900;
const DIRECTIONS = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };

function typing(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function centre(id) {
  const g = nodeGroup(id);
  if (!g) return null;
  const r = g.getBoundingClientRect();
  return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
}

// The node nearest to `fromId` in direction [dx, dy]; nodes it links with count as nearer.
export function nearest(fromId, [dx, dy]) {
  const here = centre(fromId);
  if (!here) return null;
  const linked = neighbours(fromId);
  let best = null;
  let bestScore = Infinity;
  for (const n of nodes()) {
    if (!n || n.id === fromId) continue;
    const c = centre(n.id);
    if (!c) continue;
    const along = (c.x - here.x) * dx + (c.y - here.y) * dy;
    const across = Math.abs((c.x - here.x) * dy + (c.y - here.y) * dx);
    if (along <= 0 || across > along * 2.5) continue;
    const score = Math.hypot(along, across) * (linked.has(n.id) ? 0.6 : 1);
    if (score < bestScore) { best = n.id; bestScore = score; }
  }
  return best;
}

function focusNode(id) {
  const g = nodeGroup(id);
  if (!g) return;
  g.focus({ preventScroll: true });
  const box = $("diagram").getBoundingClientRect();
  const r = g.getBoundingClientRect();
  if (r.left < box.left || r.right > box.right || r.top < box.top || r.bottom > box.bottom) {
    pan(r.left + r.width / 2 - (box.left + box.width / 2), r.top + r.height / 2 - (box.top + box.height / 2));
  }
}

function spot(id) {
  const g = id && nodeGroup(id);
  const r = (g || $("diagram")).getBoundingClientRect();
  return { x: r.left + (g ? r.width / 2 : 40), y: r.top + (g ? r.height : 40) };
}

// ------------------------------------------------------------------ connect mode

function connectStatus() {
  const m = S.mode;
  const exits = exitsOf(nodes()[nodeIndex(m.from)]);
  const exitText = m.path ? exitLabel(nodes()[nodeIndex(m.from)], m.path)
    : exits.length > 1 ? `exit: ${exits.map((e, i) => `${i + 1} ${e.label}`).join(", ")}` : "";
  status(`Connect ${m.from}${m.path ? ` (${exitText})` : exitText ? ` (${exitText})` : ""} to ${m.target || "…"}: `
    + "arrows or type an id to pick the node, Enter to connect, Esc to cancel.");
}

function markMode() {
  markDiagram();  // decorate() marks the source and the target
  if (S.mode && S.mode.target) focusNode(S.mode.target);
}

function startConnect(from) {
  S.mode = { from, path: null, target: nearest(from, [0, 1]) || null, typed: "", typedAt: 0 };
  if (!S.mode.target) S.mode.target = (nodes().find((n) => n && n.id !== from) || {}).id || null;
  markMode();
  connectStatus();
}

function endConnect(note) {
  const from = S.mode && S.mode.from;
  S.mode = null;
  markMode();
  if (note) status(note);
  if (from) focusNode(from);
}

function connectKey(e) {
  const m = S.mode;
  if (e.key === "Escape") { endConnect("Connecting cancelled."); return true; }
  if (e.key === "Enter") {
    const { from, path, target } = m;
    endConnect();
    if (target && target !== from) {
      const at = spot(from);
      connectTo(from, path, target, at.x, at.y);
    }
    return true;
  }
  if (DIRECTIONS[e.key]) {
    const next = nearest(m.target || m.from, DIRECTIONS[e.key]);
    if (next) m.target = next;
  } else if (/^[1-9]$/.test(e.key)) {
    const exit = exitsOf(nodes()[nodeIndex(m.from)])[Number(e.key) - 1];
    if (exit) m.path = exit.path;
  } else if (e.key.length === 1 && /[a-z0-9_]/i.test(e.key)) {
    const now = Date.now();
    m.typed = (now - m.typedAt < TYPE_AHEAD_MS ? m.typed : "") + e.key.toLowerCase();
    m.typedAt = now;
    const ids = nodes().map((n) => n && n.id).filter((id) => typeof id === "string" && id !== m.from);
    const hit = ids.find((id) => id.startsWith(m.typed)) || ids.find((id) => id.includes(m.typed));
    if (hit) m.target = hit;
  } else if (e.key === "Backspace") {
    m.typed = m.typed.slice(0, -1);
  } else return false;
  markMode();
  connectStatus();
  return true;
}

// ------------------------------------------------------------------ commands

async function newNodeHere() {
  const edge = S.edge ? parseEdge(S.edge) : null;
  const from = edge ? null : S.selected;
  const at = spot(edge ? edge.from : from);
  const title = edge ? `Insert between ${edge.from} and ${edge.target}` : from ? `New node after ${from}` : "New node";
  const type = await chooseFrom({ x: at.x, y: at.y, title, items: kindChoices(Boolean(edge)) });
  if (!type) return;
  let made = null;
  if (edge) made = insertOnEdge(edge, type);
  else if (from) {
    const exit = await pickExit(from, null, at.x, at.y, "leads to the new node");
    if (exit) made = addConnected(from, exit, type);
  } else made = addConnected(null, null, type);
  if (made) setTimeout(() => focusNode(made), 0);
}

function cycleEdges() {
  if (!S.selected) return;
  const ids = Array.from(svg().querySelectorAll('g[id^="edge-"]'))
    .map((g) => parseEdge(g.id)).filter((edge) => edge && edge.from === S.selected);
  if (!ids.length) { status(`${S.selected} has no arrows out.`); return; }
  const at = ids.findIndex((edge) => edge.id === S.edge);
  const edge = ids[(at + 1) % ids.length];
  selectEdge(edge);
  status(`Arrow ${edge.from} → ${edge.target} selected: Delete removes it, n inserts a node on it.`);
}

function removeSelected() {
  if (S.edge) { const edge = parseEdge(S.edge); if (edge) deleteEdge(edge); return; }
  const ids = selectedIds();
  if (ids.length) deleteNodes(ids);
}

function move(dir) {
  const from = S.selected;
  if (!from) { pan(dir[0] * PAN_STEP, dir[1] * PAN_STEP); return; }
  const next = nearest(from, dir);
  if (next) { selectNode(next); focusNode(next); }
}

function diagramKey(e) {
  if (isOpen() || typing(e.target)) return;
  if (S.mode && connectKey(e)) { e.preventDefault(); e.stopPropagation(); return; }
  const ctrl = e.ctrlKey || e.metaKey;
  const key = e.key;
  let done = true;
  if (ctrl && key.toLowerCase() === "c") done = copySelection();
  else if (ctrl && key.toLowerCase() === "v") done = paste();
  else if (ctrl && key.toLowerCase() === "a") { const all = nodes().map((n) => n && n.id).filter(Boolean); if (all.length) { selectNode(all[0]); S.selection = new Set(all); markDiagram(); } }
  else if (ctrl || e.altKey) done = false;
  else if (DIRECTIONS[key]) move(DIRECTIONS[key]);
  else if (key === "Enter" || key === " ") {
    const focused = e.target.closest && e.target.closest('g[id^="node-"]');
    const id = focused ? focused.id.slice(5) : S.selected;
    if (id && nodeIndex(id) >= 0) {
      if (S.selected !== id) selectNode(id);
      setTab("node");
      if (key === "Enter") { const field = $("tab-node").querySelector("input, select, textarea"); if (field) field.focus(); }
      else focusNode(id);
    } else done = false;
  } else if (key === "Delete" || key === "Backspace") removeSelected();
  else if (key === "F2") { if (S.selected) renameAt(S.selected); }
  else if (key === "c") { if (S.selected) startConnect(S.selected); else status("Select a node to connect first."); }
  else if (key === "n") newNodeHere();
  else if (key === "e") cycleEdges();
  else if (key === "+" || key === "=") zoomAt(1.25);
  else if (key === "-") zoomAt(0.8);
  else if (key === "0") fit();
  else if (key === "Escape") { if (S.edge) { S.edge = null; markDiagram(); } else clearSelection(); $("diagram").focus({ preventScroll: true }); }
  else done = false;
  if (done) { e.preventDefault(); e.stopPropagation(); }
}

// ------------------------------------------------------------------ help

function showHelp(open) {
  const help = $("canvas-help");
  if (open) {
    help.dataset.opener = document.activeElement && document.activeElement.id ? document.activeElement.id : "";
    help.hidden = false;
    $("canvas-help-close").focus();
  } else if (!help.hidden) {
    help.hidden = true;
    const back = help.dataset.opener && $(help.dataset.opener);
    if (back) back.focus(); else $("diagram").focus({ preventScroll: true });
  }
}

export function initKeyboard() {
  $("diagram").addEventListener("keydown", diagramKey);
  document.addEventListener("keydown", (e) => {
    const help = $("canvas-help");
    if (e.key === "Escape" && !help.hidden) { showHelp(false); e.preventDefault(); return; }
    if (e.key === "?" && !typing(e.target) && !isOpen()) { showHelp(help.hidden); e.preventDefault(); return; }
    // Pasting with nothing focused (just after opening the topic) goes to the diagram.
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "v" && e.target === document.body) { if (paste()) e.preventDefault(); }
  });
  $("canvas-keys").addEventListener("click", () => showHelp(true));
  $("canvas-help-close").addEventListener("click", () => showHelp(false));
  $("canvas-help").addEventListener("click", (e) => { if (e.target === $("canvas-help")) showHelp(false); });
}
