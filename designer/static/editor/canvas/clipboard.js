// Copy and paste of nodes, within a topic and between topics: the copied nodes (with the
// variables and data sources they use) are kept in localStorage, which every editor tab of
// this designer shares, and offered to the system clipboard as JSON. Pasted nodes get ids
// unique in the topic; links among them follow, links to nodes the topic lacks are dropped.

import { S, data } from "../state.js";
import { nodeIndex, nodes, status } from "../util.js";
import { changed, uniqueId } from "../document.js";
import { exitsOf, getAt, setAt } from "./exits.js";
import { selectedIds } from "./select.js";
import { markDiagram } from "../diagram.js";

const KEY = "parley.canvas.clipboard";

function picked(source, names) {
  const out = {};
  if (source && typeof source === "object") for (const name of names) if (name in source) out[name] = source[name];
  return out;
}

function topicLanguages(doc) {
  return Array.isArray(doc.languages) && doc.languages.length ? doc.languages : [doc.default_language || "en"];
}

// Texts written per language fit the topic pasted into: its languages are kept, and in a
// topic of one language without a `languages` list, a text becomes that language's string.
function fitLanguages(value, clip) {
  if (Array.isArray(value)) return value.map((v) => fitLanguages(v, clip));
  if (!value || typeof value !== "object") return value;
  const keys = Object.keys(value);
  const from = clip.languages || [];
  if (keys.length && keys.every((k) => from.includes(k))) {
    const mine = topicLanguages(S.doc);
    const fallback = value[S.doc.default_language || "en"] ?? value[clip.default_language] ?? value[keys[0]];
    if (!Array.isArray(S.doc.languages)) return fallback;
    const kept = Object.fromEntries(keys.filter((k) => mine.includes(k)).map((k) => [k, value[k]]));
    return Object.keys(kept).length ? kept : fallback;
  }
  return Object.fromEntries(keys.map((k) => [k, fitLanguages(value[k], clip)]));
}

export function copySelection() {
  const ids = selectedIds();
  if (!ids.length) { status("Select nodes to copy first (click, Shift+click or Shift+drag)."); return false; }
  const copied = ids.map((id) => JSON.parse(JSON.stringify(nodes()[nodeIndex(id)])));
  const clip = {
    parley: "nodes", topic: data.topic_id, nodes: copied, languages: topicLanguages(S.doc),
    default_language: S.doc.default_language || "en",
    variables: picked(S.doc.variables, copied.map((n) => n.var).filter(Boolean)),
    data_sources: picked(S.doc.data_sources, copied.map((n) => n.source).filter(Boolean)),
  };
  const text = JSON.stringify(clip);
  localStorage.setItem(KEY, text);
  if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).catch(() => {});
  status(`Copied ${ids.length} node${ids.length === 1 ? "" : "s"}: paste with Ctrl+V here or in another topic.`, "ok");
  return true;
}

export function paste() {
  let clip = null;
  try { clip = JSON.parse(localStorage.getItem(KEY) || "null"); } catch (err) { clip = null; }
  if (!clip || clip.parley !== "nodes" || !Array.isArray(clip.nodes) || !clip.nodes.length) {
    status("Nothing to paste: copy nodes first (Ctrl+C on the diagram)."); return false;
  }
  if (!Array.isArray(S.doc.nodes)) S.doc.nodes = [];
  const before = new Set(nodes().map((n) => n && n.id));
  const renamed = new Map();
  for (const node of clip.nodes) {
    const id = uniqueId(node.id);
    renamed.set(node.id, id);
    S.doc.nodes.push(Object.assign(fitLanguages(node, clip), { id }));  // pushed now: the next id avoids it
  }
  const pasted = clip.nodes.map((n) => nodes()[nodeIndex(renamed.get(n.id))]);
  for (const node of pasted) {
    for (const exit of exitsOf(node)) {
      const target = getAt(node, exit.path);
      if (!target) continue;
      setAt(node, exit.path, renamed.get(target) || (before.has(target) ? target : null));
    }
  }
  for (const [section, entries] of [["variables", clip.variables], ["data_sources", clip.data_sources]]) {
    for (const [name, value] of Object.entries(entries || {})) {
      if (!S.doc[section] || typeof S.doc[section] !== "object") S.doc[section] = {};
      if (!(name in S.doc[section])) S.doc[section][name] = value;
    }
  }
  if (!S.doc.start) S.doc.start = pasted[0].id;
  S.selected = pasted[0].id;
  S.selection = new Set(pasted.map((n) => n.id));
  S.edge = null;
  status(`Pasted ${pasted.map((n) => n.id).join(", ")}${clip.topic !== data.topic_id ? ` from ${clip.topic}` : ""}.`, "ok");
  changed({ inspector: true });
  markDiagram();
  return true;
}
