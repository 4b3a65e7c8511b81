// A node's exits (the keys naming where it goes next, as the kind's form lists them) and the
// transitions drawn on the diagram, whose SVG ids the server writes as
// edge-<source id>-<key paths, comma-separated>, e.g. edge-ask-options.2.next,next.

import { kindSpec, nodeIndex, nodes } from "../util.js";
import { defaultText } from "../widgets.js";

const SHORT = { next: "next", on_yes: "yes", on_no: "no", otherwise: "otherwise",
  on_max_attempts: "max attempts", on_empty: "empty", on_not_found: "not found" };

export function getAt(obj, path) {
  return path.reduce((o, key) => (o && typeof o === "object" ? o[key] : undefined), obj);
}

// Sets (or, for an empty value, removes) the key at `path` inside `obj`.
export function setAt(obj, path, value) {
  const holder = getAt(obj, path.slice(0, -1));
  if (!holder || typeof holder !== "object") return;
  const key = path[path.length - 1];
  if (value) holder[key] = value; else delete holder[key];
}

// [{ path, label, target, item }]: `item` marks a choice's or a condition's own exit.
export function exitsOf(node) {
  const out = [];
  if (!node) return out;
  for (const f of (kindSpec(node.type) || { fields: [] }).fields) {
    if (f.widget === "node") {
      out.push({ path: [f.name], label: SHORT[f.name] || f.label, target: node[f.name] || null, item: false });
    } else if (f.widget === "options" || f.widget === "conditions") {
      (Array.isArray(node[f.name]) ? node[f.name] : []).forEach((row, i) => {
        if (!row || typeof row !== "object") return;
        const text = f.widget === "options" ? defaultText(row.label) : row.label || row.when;
        out.push({ path: [f.name, i, "next"], label: String(text || `${f.widget === "options" ? "choice" : "condition"} ${i + 1}`),
          target: row.next || null, item: true });
      });
    }
  }
  return out;
}

// The exit a plain drag from the node's body (or `c` without an exit chosen) fills: its only
// exit, else the first empty one that is not a choice's own; null when the author must pick.
export function defaultExit(node) {
  const exits = exitsOf(node);
  if (exits.length === 1) return exits[0].path;
  const free = exits.find((e) => !e.item && !e.target);
  return free ? free.path : null;
}

export function pathText(path) { return path.join("."); }
export function parsePath(text) { return text.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p)); }

// { id, from, paths, target } for an arrow's SVG id, or null for arrows that are no transition.
export function parseEdge(svgId) {
  const m = /^edge-([a-z][a-z0-9_]*)-([A-Za-z0-9_.,]+?)(?:-\d+)?$/.exec(svgId || "");
  if (!m || nodeIndex(m[1]) < 0) return null;
  const from = nodes()[nodeIndex(m[1])];
  const paths = m[2].split(",").map(parsePath);
  return { id: svgId, from: m[1], paths, target: getAt(from, paths[0]) || null };
}

// Every node id the node leads to (for moving between connected nodes).
export function neighbours(id) {
  const out = new Set();
  const node = nodes()[nodeIndex(id)];
  for (const e of exitsOf(node)) if (e.target) out.add(e.target);
  for (const n of nodes()) if (n && exitsOf(n).some((e) => e.target === id)) out.add(n.id);
  return out;
}
