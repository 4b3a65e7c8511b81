// Mouse work on the diagram. A drag from a node (or from one of its exit tabs) to another node
// connects them, to empty space creates a node of a kind picked from a menu; the "New node"
// chip dropped on an arrow inserts a node there; a drag on the background pans (with Shift:
// a rubber band selects). Feedback is drawn on an overlay above the page, since the diagram
// itself is redrawn by the server after each edit.

import { $ } from "../state.js";
import { nodeIndex, nodes, status } from "../util.js";
import { addConnected, connectExit, insertOnEdge, kindChoices, kindLabel, renameTo } from "./edits.js";
import { defaultExit, exitsOf, parsePath, pathText } from "./exits.js";
import { askText, chooseFrom, isOpen } from "./picker.js";
import { clearSelection, edgeOf, nodeGroup, nodeIdOf, selectEdge, selectMany, selectNode } from "./select.js";

const NS = "http://www.w3.org/2000/svg";
const SLOP = 4;  // pixels a press may move and still be a click
let drag = null;
let overlay = null;

function overlayParts() {
  if (!overlay) {
    overlay = document.createElementNS(NS, "svg");
    overlay.id = "canvas-overlay";
    overlay.setAttribute("aria-hidden", "true");
    overlay.innerHTML = '<line class="rubber-line"/><rect class="rubber-band"/><g class="ghost"><rect rx="6"/><text/></g>';
    document.body.append(overlay);
  }
  return { line: overlay.querySelector("line"), band: overlay.querySelector(".rubber-band"), ghost: overlay.querySelector(".ghost") };
}

function showOverlay(which) {
  const parts = overlayParts();
  overlay.classList.toggle("hidden", !which);
  for (const [name, part] of Object.entries(parts)) part.style.display = name === which ? "" : "none";
  return parts[which];
}

function markTarget(id, edgeId) {
  document.querySelectorAll("#diagram .drop-target").forEach((g) => g.classList.remove("drop-target"));
  const g = id ? nodeGroup(id) : edgeId ? document.getElementById(edgeId) : null;
  if (g) g.classList.add("drop-target");
}

function insideDiagram(x, y) {
  const r = $("diagram").getBoundingClientRect();
  return x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
}

function nodeById(id) { return nodes()[nodeIndex(id)]; }

// Which exit of `fromId` an edit uses: the one given, the obvious one, else the author's pick.
export async function pickExit(fromId, path, x, y, purpose) {
  if (path) return path;
  const node = nodeById(fromId);
  const exits = exitsOf(node);
  if (!exits.length) { status(`${fromId} has no way out: it ends the conversation.`, "error"); return null; }
  const obvious = defaultExit(node);
  if (obvious) return obvious;
  const choice = await chooseFrom({ x, y, title: `Which way out of ${fromId} ${purpose}?`,
    items: exits.map((e) => ({ value: pathText(e.path), label: e.label + (e.target ? ` (now → ${e.target})` : "") })) });
  return choice ? parsePath(choice) : null;
}

export async function connectTo(fromId, path, toId, x, y) {
  const exit = await pickExit(fromId, path, x, y, `goes to ${toId}`);
  if (exit) connectExit(fromId, exit, toId);
}

export async function createFrom(fromId, path, x, y) {
  const type = await chooseFrom({ x, y, title: fromId ? `New node after ${fromId}` : "New node", items: kindChoices(false) });
  if (!type) return;
  if (!fromId) { addConnected(null, null, type); return; }
  const exit = await pickExit(fromId, path, x, y, `leads to the new ${kindLabel(type)}`);
  if (exit) addConnected(fromId, exit, type);
}

export async function renameAt(id) {
  const g = nodeGroup(id);
  const r = g ? g.getBoundingClientRect() : $("diagram").getBoundingClientRect();
  const value = await askText({ x: r.left, y: r.top, label: `New id for ${id}`, value: id });
  if (value !== null) renameTo(id, value);
}

function start(e, kind, extra) {
  drag = Object.assign({ kind, x0: e.clientX, y0: e.clientY, moved: false,
    scroll: [$("diagram").scrollLeft, $("diagram").scrollTop] }, extra);
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
  window.addEventListener("keydown", cancelOnEscape, true);
}

function stop() {
  window.removeEventListener("pointermove", move);
  window.removeEventListener("pointerup", up);
  window.removeEventListener("keydown", cancelOnEscape, true);
  showOverlay(null);
  markTarget(null);
  drag = null;
}

function cancelOnEscape(e) {
  if (e.key !== "Escape" || !drag) return;
  e.preventDefault();
  e.stopPropagation();
  stop();
  status("Cancelled.");
}

function move(e) {
  if (!drag) return;
  if (!drag.moved && Math.hypot(e.clientX - drag.x0, e.clientY - drag.y0) < SLOP) return;
  drag.moved = true;
  const under = document.elementFromPoint(e.clientX, e.clientY);
  if (drag.kind === "link") {
    const line = showOverlay("line");
    for (const [k, v] of Object.entries({ x1: drag.x0, y1: drag.y0, x2: e.clientX, y2: e.clientY })) line.setAttribute(k, v);
    markTarget(nodeIdOf(under));
  } else if (drag.kind === "new") {
    const ghost = showOverlay("ghost");
    ghost.setAttribute("transform", `translate(${e.clientX + 8},${e.clientY + 8})`);
    ghost.querySelector("text").textContent = `+ ${kindLabel($("add-kind").value)}`;
    ghost.querySelector("rect").setAttribute("width", 16 + ghost.querySelector("text").textContent.length * 7);
    const edge = edgeOf(under);
    markTarget(nodeIdOf(under), edge && edge.id);
  } else if (drag.shift) {
    const band = showOverlay("band");
    band.setAttribute("x", Math.min(drag.x0, e.clientX));
    band.setAttribute("y", Math.min(drag.y0, e.clientY));
    band.setAttribute("width", Math.abs(e.clientX - drag.x0));
    band.setAttribute("height", Math.abs(e.clientY - drag.y0));
  } else {
    $("diagram").scrollLeft = drag.scroll[0] - (e.clientX - drag.x0);
    $("diagram").scrollTop = drag.scroll[1] - (e.clientY - drag.y0);
  }
}

function up(e) {
  const d = drag;
  stop();
  if (!d) return;
  const under = document.elementFromPoint(e.clientX, e.clientY);
  if (!d.moved) { click(d, e); return; }
  if (d.kind === "link") {
    const target = nodeIdOf(under);
    if (target && target !== d.from) connectTo(d.from, d.path, target, e.clientX, e.clientY);
    else if (!target && insideDiagram(e.clientX, e.clientY)) createFrom(d.from, d.path, e.clientX, e.clientY);
  } else if (d.kind === "new") {
    if (!insideDiagram(e.clientX, e.clientY)) return;
    const type = $("add-kind").value;
    const edge = edgeOf(under);
    const target = nodeIdOf(under);
    if (edge) insertOnEdge(edge, type);
    else if (target) pickExit(target, null, e.clientX, e.clientY, "leads to the new node")
      .then((exit) => { if (exit) addConnected(target, exit, type); });
    else addConnected(null, null, type);
  } else if (d.shift) {
    const [left, right] = [Math.min(d.x0, e.clientX), Math.max(d.x0, e.clientX)];
    const [top, bottom] = [Math.min(d.y0, e.clientY), Math.max(d.y0, e.clientY)];
    const ids = [];
    document.querySelectorAll('#diagram svg g[id^="node-"]').forEach((g) => {
      const r = g.getBoundingClientRect();
      const id = nodeIdOf(g);
      if (id && r.right >= left && r.left <= right && r.bottom >= top && r.top <= bottom) ids.push(id);
    });
    selectMany(ids);
    if (ids.length) status(`${ids.length} node${ids.length === 1 ? "" : "s"} selected: Ctrl+C copies, Delete deletes.`);
  }
}

function click(d, e) {
  if (d.kind === "link") {
    selectNode(d.from, { add: !d.path && (e.shiftKey || e.ctrlKey || e.metaKey) });
    const g = nodeGroup(d.from);
    if (g) g.focus({ preventScroll: true });
    return;
  }
  if (d.edge) selectEdge(d.edge);
  else clearSelection();
  $("diagram").focus({ preventScroll: true });
}

export function initDrag() {
  const box = $("diagram");
  box.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || isOpen()) return;
    const port = e.target.closest && e.target.closest(".exit-port");
    const id = port ? port.dataset.node : nodeIdOf(e.target);
    if (id) start(e, "link", { from: id, path: port ? parsePath(port.dataset.exit) : null });
    else start(e, "background", { edge: edgeOf(e.target), shift: e.shiftKey });
    e.preventDefault();  // no text selection while dragging
  });
  box.addEventListener("dblclick", (e) => {
    const id = nodeIdOf(e.target);
    if (id) renameAt(id);
  });
  $("add-drag").addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    start(e, "new", {});
    e.preventDefault();
  });
}
