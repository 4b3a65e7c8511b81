// What is selected on the diagram (one node with its form open, more nodes with Shift or
// Ctrl, or one arrow), and how the drawn SVG shows it: classes, the nodes' keyboard focus
// (one tab stop, arrows move it) and their labels for screen readers.

import { $, S } from "../state.js";
import { kindSpec, nodeIndex, nodes } from "../util.js";
import { select } from "../forms.js";
import { markDiagram } from "../diagram.js";
import { parseEdge } from "./exits.js";
import { drawPorts } from "./ports.js";

export function svg() { return $("diagram").querySelector("svg"); }

export function nodeGroup(id) {
  const root = svg();
  return root && id ? root.querySelector(`g[id="node-${CSS.escape(id)}"]`) : null;
}

export function nodeIdOf(target) {
  const g = target && target.closest && target.closest('g[id^="node-"]');
  const id = g ? g.id.slice(5) : null;
  return id && nodeIndex(id) >= 0 ? id : null;
}

export function edgeOf(target) {
  const g = target && target.closest && target.closest('g[id^="edge-"]');
  return g ? parseEdge(g.id) : null;
}

// The selected nodes: the one whose form is open and any added with Shift or Ctrl.
export function selectedIds() {
  const ids = new Set(S.selection);
  if (S.selected) ids.add(S.selected);
  return [...ids].filter((id) => nodeIndex(id) >= 0);
}

export function selectNode(id, { add = false } = {}) {
  if (!add || !S.selected) { select(id); return; }
  const ids = new Set(selectedIds());
  if (ids.has(id)) ids.delete(id); else ids.add(id);
  select(ids.has(id) ? id : [...ids][0] || null);
  S.selection = ids;
  markDiagram();
}

export function selectMany(ids) {
  if (!ids.length) return;
  select(ids[0]);
  S.selection = new Set(ids);
  markDiagram();
}

export function selectEdge(edge) {
  select(edge.from);  // its form holds the exit the arrow stands for
  S.edge = edge.id;
  markDiagram();
}

export function clearSelection() {
  S.selected = null;
  S.selection = new Set();
  S.edge = null;
  select(null);
}

function describe(n) {
  const kind = (kindSpec(n.type) || { label: n.type || "node" }).label;
  const title = typeof n.title === "string" && n.title ? `, ${n.title}` : "";
  return `${n.id}: ${kind}${title}${n.id === S.doc.start ? ", start" : ""}`;
}

// Called after every draw and every change of selection (see diagram.js markDiagram).
export function decorate(root) {
  const chosen = new Set(selectedIds());
  const byId = new Map(nodes().filter((n) => n && typeof n.id === "string").map((n) => [n.id, n]));
  const focusId = S.selected && byId.has(S.selected) ? S.selected : S.doc.start;
  let anyFocusable = false;
  root.querySelectorAll('g[id^="node-"]').forEach((g) => {
    const id = g.id.slice(5);
    g.classList.toggle("selected", chosen.has(id));
    g.classList.toggle("connect-source", Boolean(S.mode) && S.mode.from === id);
    g.classList.toggle("connect-target", Boolean(S.mode) && S.mode.target === id);
    const n = byId.get(id);
    if (!n) return;
    const stop = id === focusId;
    anyFocusable = anyFocusable || stop;
    g.setAttribute("tabindex", stop ? "0" : "-1");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", describe(n));
    g.setAttribute("aria-pressed", String(chosen.has(id)));
    const title = g.querySelector(":scope > title");
    if (title) title.remove();  // the aria-label says it; a title would be read twice
  });
  if (!anyFocusable) {
    const first = root.querySelector('g[id^="node-"]');
    if (first) first.setAttribute("tabindex", "0");
  }
  root.querySelectorAll('g[id^="edge-"]').forEach((g) => {
    g.classList.toggle("selected-edge", g.id === S.edge);
    const path = g.querySelector("path");
    if (path && !g.querySelector(".edge-hit")) {
      // A wide invisible stroke makes a thin arrow easy to click and to drop onto.
      const hit = path.cloneNode(false);
      hit.setAttribute("class", "edge-hit");
      hit.removeAttribute("stroke-dasharray");
      g.append(hit);
    }
  });
  drawPorts(root, chosen.size === 1 && !S.edge ? S.selected : null);
}
