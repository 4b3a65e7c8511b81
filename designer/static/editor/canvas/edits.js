// Edits made on the diagram: connect, create, insert on an arrow, delete, rename. Each goes
// through the working document and changed(), so it is one undo step and the forms, the JSON
// tab and the redrawn diagram follow.

import { IDENT, NODE_REF_KEYS, S, spec } from "../state.js";
import { kindSpec, nodeIndex, nodes, status } from "../util.js";
import { ID_HINT, NEW_NODE, changed, renameNode, uniqueId } from "../document.js";
import { defaultExit, exitsOf, pathText, setAt } from "./exits.js";

function node(id) { return nodes()[nodeIndex(id)] || null; }

export function kindLabel(type) { return (kindSpec(type) || { label: type }).label; }

export function connectExit(fromId, path, toId) {
  const from = node(fromId);
  if (!from || nodeIndex(toId) < 0) return false;
  setAt(from, path, toId);
  S.selected = fromId;
  status(`${fromId} (${exitLabel(from, path)}) now goes to ${toId}.`, "ok");
  changed({ inspector: true });
  return true;
}

export function exitLabel(n, path) {
  const exit = exitsOf(n).find((e) => pathText(e.path) === pathText(path));
  return exit ? exit.label : pathText(path);
}

// A new node of `type` (not yet added): id from the kind, the fields its form starts with.
export function newNode(type) {
  const id = uniqueId(ID_HINT[type] || "node");
  const made = Object.assign({ id, type }, (NEW_NODE[type] || (() => ({})))());
  if (type.startsWith("input.")) made.var = id.replace(/^ask_/, "") || id;
  return made;
}

function add(made) {
  if (!Array.isArray(S.doc.nodes)) S.doc.nodes = [];
  S.doc.nodes.push(made);
  if (!S.doc.start) S.doc.start = made.id;
  S.selected = made.id;
  S.selection = new Set();
  S.edge = null;
}

// A new node, linked from `fromId`'s exit `path` when given (null: a node on its own).
export function addConnected(fromId, path, type) {
  const made = newNode(type);
  const from = fromId ? node(fromId) : null;
  add(made);
  if (from && path) setAt(from, path, made.id);
  status(from && path ? `Added ${made.id} after ${fromId}: fill in its form.` : `Added ${made.id}: fill in its form.`, "ok");
  changed({ inspector: true });
  return made.id;
}

// A new node put on an arrow: the arrow's keys lead to it, and it leads where they led.
export function insertOnEdge(edge, type) {
  const from = node(edge.from);
  const made = newNode(type);
  const exit = defaultExit(made) || (exitsOf(made)[0] || {}).path;
  if (!from || !edge.target) return null;
  if (!exit) { status(`A “${kindLabel(type)}” node has no way out: it cannot go in the middle of an arrow.`, "error"); return null; }
  setAt(made, exit, edge.target);
  add(made);
  for (const path of edge.paths) setAt(from, path, made.id);
  status(`Inserted ${made.id} between ${edge.from} and ${edge.target}.`, "ok");
  changed({ inspector: true });
  return made.id;
}

export function deleteEdge(edge) {
  const from = node(edge.from);
  if (!from) return;
  for (const path of edge.paths) setAt(from, path, null);
  S.edge = null;
  S.selected = edge.from;
  status(`Removed the arrow from ${edge.from} to ${edge.target}; undo brings it back.`, "ok");
  changed({ inspector: true });
}

// Deletes nodes. A link to a deleted node that had one way out follows that way instead (a
// node taken out of a chain keeps the chain whole); other links to it are cleared, and the
// form shows what then needs a target.
export function deleteNodes(ids) {
  const gone = new Set(ids.filter((id) => nodeIndex(id) >= 0));
  if (!gone.size) return;
  const bypass = (id, seen = new Set()) => {
    if (!gone.has(id) || seen.has(id)) return gone.has(id) ? null : id;
    seen.add(id);
    const targets = new Set(exitsOf(node(id)).map((e) => e.target).filter(Boolean));
    return targets.size === 1 ? bypass([...targets][0], seen) : null;
  };
  const replacement = new Map([...gone].map((id) => [id, bypass(id)]));
  S.doc.nodes = nodes().filter((n) => !(n && gone.has(n.id)));
  for (const n of nodes()) {
    if (!n) continue;
    for (const key of NODE_REF_KEYS) if (gone.has(n[key])) setAt(n, [key], replacement.get(n[key]));
    for (const list of [n.options, n.conditions]) {
      if (Array.isArray(list)) for (const item of list) if (item && gone.has(item.next)) setAt(item, ["next"], replacement.get(item.next));
    }
  }
  if (gone.has(S.doc.start)) S.doc.start = replacement.get(S.doc.start) || (nodes()[0] && nodes()[0].id) || undefined;
  if (!S.doc.start) delete S.doc.start;
  S.selected = null;
  S.selection = new Set();
  S.edge = null;
  status(`Deleted ${[...gone].join(", ")}; undo brings ${gone.size === 1 ? "it" : "them"} back.`, "ok");
  changed({ inspector: true });
}

export function renameTo(oldId, newId) {
  const value = (newId || "").trim();
  if (!value || value === oldId) return false;
  if (!IDENT.test(value)) { status("A node id uses lowercase letters, digits and _, starting with a letter.", "error"); return false; }
  if (nodeIndex(value) >= 0) { status(`There is already a node ${value}.`, "error"); return false; }
  renameNode(oldId, value);
  S.selection = new Set([...S.selection].map((id) => (id === oldId ? value : id)));
  status(`Renamed ${oldId} to ${value}; links to it follow.`, "ok");
  changed({ inspector: true });
  return true;
}

// Kinds for a picker, in the spec's order; `withExit` leaves out those with no way out.
export function kindChoices(withExit) {
  return spec.order
    .filter((type) => !withExit || exitsOf({ type, options: [{}], conditions: [{}] }).length)
    .map((type) => ({ value: type, label: `${spec.kinds[type].group}: ${spec.kinds[type].label}` }));
}
