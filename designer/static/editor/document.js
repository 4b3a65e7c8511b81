// Changes to the working document: adding, connecting, renaming and deleting nodes.

import { $, IDENT, NODE_REF_KEYS, S, data } from "./state.js";
import { kindSpec, nodeIndex, nodes, selectedNode, slug, status } from "./util.js";
import { defaultText } from "./widgets.js";
import { renderInspector, renderNodeList, setTab } from "./forms.js";
import { showJson } from "./json.js";
import { scheduleCheck } from "./checks.js";
import { markDiagram } from "./diagram.js";
import { record, redo, undo } from "./history.js";

export function changed(options) {
  const opts = options || {};
  if (opts.history !== false) record(typingSource());
  updateDirty();
  $("topic-title").textContent = defaultText(S.doc.name) || data.topic_id;
  if (opts.list !== false) renderNodeList();
  if (opts.inspector) renderInspector();
  if (S.tab === "json" && !S.jsonEditing) showJson();
  scheduleCheck();
}

export function isDirty() { return JSON.stringify(S.doc) !== S.savedText; }

export function updateDirty() {
  $("badge-unsaved").classList.toggle("hidden", !isDirty());
}

export function setValue(obj, key, value) {
  if (value === "" || value === undefined || value === null ||
      (Array.isArray(value) && value.length === 0)) delete obj[key];
  else obj[key] = value;
}

export function renameNode(oldId, newId) {
  if (S.doc.start === oldId) S.doc.start = newId;
  for (const n of nodes()) {
    if (!n) continue;
    if (n.id === oldId) n.id = newId;
    for (const key of NODE_REF_KEYS) if (n[key] === oldId) n[key] = newId;
    for (const list of [n.options, n.conditions]) {
      if (Array.isArray(list)) for (const item of list) if (item && item.next === oldId) item.next = newId;
    }
  }
  if (S.selected === oldId) S.selected = newId;
}

export function uniqueId(base) {
  let id = slug(base) || "node";
  if (nodeIndex(id) < 0) return id;
  for (let i = 2; ; i++) {
    const candidate = `${id}_${i}`.slice(0, 64);
    if (nodeIndex(candidate) < 0) return candidate;
  }
}

export const NEW_NODE = {
  "input.static_choice": () => ({ options: [{ label: "", value: "" }] }),
  "response.card": () => ({ fields: [{ label: "", value: "" }] }),
  "flow.branch": () => ({ conditions: [{ when: "" }] }),
  "flow.create_record": () => ({ table: "cases", fields: { short_description: "" } }),
};
export const ID_HINT = {
  "input.text": "ask_text", "input.static_choice": "ask_choice",
  "input.dynamic_choice": "pick_item", "input.boolean": "ask_yes_no",
  "input.file_picker": "ask_photo", "response.text": "say", "response.image": "show_image",
  "response.link": "send_link", "response.card": "show_card", "flow.branch": "branch",
  "flow.set": "set_values", "flow.lookup": "look_up", "flow.create_record": "open_case",
  "flow.handoff": "live_agent", "flow.end": "end",
};

export function connect(from, toId) {
  const type = from.type;
  const fields = (kindSpec(type) || { fields: [] }).fields.map((f) => f.name);
  for (const key of ["next", "on_yes", "on_no", "otherwise"]) {
    if (fields.includes(key) && !from[key]) { from[key] = toId; return true; }
  }
  if (type === "flow.branch" && Array.isArray(from.conditions)) {
    const open = from.conditions.find((c) => c && !c.next);
    if (open) { open.next = toId; return true; }
  }
  return false;
}

export function addNode() {
  const type = $("add-kind").value;
  const id = $("add-id").value.trim();
  const problem = !IDENT.test(id) ? "Use lowercase letters, digits and _ for the id, starting with a letter."
    : nodeIndex(id) >= 0 ? `There is already a node ${id}.` : null;
  if (problem) { status(problem, "error"); $("add-id").focus(); return; }
  const node = Object.assign({ id, type }, (NEW_NODE[type] || (() => ({})))());
  if (type.startsWith("input.")) node.var = id.replace(/^ask_/, "") || id;
  const from = selectedNode();
  if (!Array.isArray(S.doc.nodes)) S.doc.nodes = [];
  S.doc.nodes.push(node);
  let note = `Added ${id}.`;
  if ($("add-connect").checked && from && connect(from, id)) note = `Added ${id} after ${from.id}.`;
  if (!S.doc.start) S.doc.start = id;
  S.selected = id;
  status(note, "ok");
  suggestId();
  setTab("node");
  changed({ inspector: true });
}

export function deleteNode(id) {
  if (!window.confirm(`Delete the node ${id}? Links to it will show as errors until you reconnect them.`)) return;
  const i = nodeIndex(id);
  if (i < 0) return;
  S.doc.nodes.splice(i, 1);
  S.selected = null;
  status(`Deleted ${id}.`, "ok");
  changed({ inspector: true });
}

export function changeKind(node, type) {
  const keep = new Set(["id", "type", "title", "notes",
    ...kindSpec(type).fields.map((f) => f.name)]);
  for (const key of Object.keys(node)) if (!keep.has(key)) delete node[key];
  node.type = type;
  Object.assign(node, Object.fromEntries(
    Object.entries((NEW_NODE[type] || (() => ({})))()).filter(([k]) => !(k in node))));
  changed({ inspector: true });
}

export function suggestId() {
  $("add-id").value = uniqueId(ID_HINT[$("add-kind").value] || "node");
}

// The text field being typed in, if any: keystrokes in one field make one undo step.
function typingSource() {
  const active = document.activeElement;
  if (!active) return null;
  if (active.tagName === "TEXTAREA") return active;
  if (active.tagName === "INPUT" && !["checkbox", "radio", "button"].includes(active.type)) return active;
  return null;
}

// Puts back a state from the undo history: forms, JSON text, node list and diagram follow.
function restore(state, verb) {
  if (!state) { status(`Nothing to ${verb}.`); return; }
  S.seq++;  // a check still on its way describes the state being left
  S.doc = state.doc;
  const keep = [state.selected, S.selected].find((id) => id && nodeIndex(id) >= 0);
  S.selected = keep || null;
  S.selection = new Set();
  S.edge = null;
  $("json-text").value = JSON.stringify(S.doc, null, 2);
  changed({ inspector: true, history: false });
  markDiagram();
  status(verb === "undo" ? "Undone: redo brings it back." : "Redone.", "ok");
}

export function undoEdit() { restore(undo(), "undo"); }
export function redoEdit() { restore(redo(), "redo"); }
