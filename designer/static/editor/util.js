// Small helpers: building elements, posting JSON, the status line and node look-ups.

import { $, S, csrf, spec } from "./state.js";

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export async function api(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf,
      Accept: "application/json" },
    body: JSON.stringify(body),
  });
  let json = {};
  try { json = await response.json(); } catch (err) { json = { error: response.statusText }; }
  return { ok: response.ok, status: response.status, json };
}

export function status(message, kind) {
  const line = $("status");
  line.textContent = message || "";
  line.className = "status-line" + (kind ? " " + kind : "");
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function nodes() { return Array.isArray(S.doc.nodes) ? S.doc.nodes : []; }
export function nodeIndex(id) { return nodes().findIndex((n) => n && n.id === id); }
export function selectedNode() {
  const i = nodeIndex(S.selected);
  return i >= 0 ? nodes()[i] : null;
}
export function kindSpec(type) { return spec.kinds[type]; }
export function kindClass(type) {
  if (!type) return "k-unknown";
  if (type === "flow.end" || type === "flow.handoff") return "k-end";
  return "k-" + type.split(".")[0];
}
export function slug(text) {
  let s = String(text).toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  if (s && !/^[a-z]/.test(s)) s = "v_" + s;
  return s.slice(0, 64);
}
export function variableNames() {
  const names = new Set(Object.keys(S.doc.variables || {}));
  for (const n of nodes()) if (n && typeof n.var === "string" && n.var) names.add(n.var);
  return Array.from(names).sort();
}
