// The inspector: the node list, the node and topic forms, tabs and selection.

import { $, IDENT, S, spec } from "./state.js";
import { el, kindClass, kindSpec, nodeIndex, nodes, status, variableNames } from "./util.js";
import { changeKind, changed, deleteNode, renameNode, setValue } from "./document.js";
import { fieldShell, textInput, widget } from "./widgets.js";
import { showJson } from "./json.js";
import { annotate } from "./checks.js";
import { markDiagram } from "./diagram.js";
import { renderTranscripts } from "./save.js";
import { renderNotificationsForm } from "./notifications.js";

export function renderNodeList() {
  const list = $("node-list");
  list.replaceChildren();
  const counts = {};
  for (const p of S.problems) {
    const m = /^\$\.nodes\[(\d+)\]/.exec(p.path);
    const key = p.node || (m && nodes()[Number(m[1])] && nodes()[Number(m[1])].id);
    if (!key) continue;
    counts[key] = counts[key] || { error: 0, warning: 0 };
    counts[key][p.severity === "error" ? "error" : "warning"] += 1;
  }
  for (const n of nodes()) {
    if (!n) continue;
    const c = counts[n.id];
    const item = el("li", {
      className: "node-item" + (n.id === S.selected ? " selected" : "") + (n.id === S.current ? " current" : ""),
      dataset: { node: String(n.id) }, tabindex: 0, role: "button",
      onclick: () => select(n.id),
      onkeydown: (e) => { if (e.key === "Enter") select(n.id); },
    },
    el("span", { className: "swatch " + kindClass(n.type) }),
    el("span", { className: "node-id mono", text: String(n.id) }),
    el("span", { className: "node-kind" }, (kindSpec(n.type) || { label: n.type || "?" }).label,
      n.id === S.doc.start ? el("span", { className: "start-mark", title: "The topic starts here", text: "start" }) : null),
    c && c.error ? el("span", { className: "badge error", text: String(c.error) }) : null,
    c && !c.error && c.warning ? el("span", { className: "badge warning", text: String(c.warning) }) : null);
    list.append(item);
  }
  $("node-count").textContent = String(nodes().length);
  const names = document.getElementById("var-names") || document.body.appendChild(el("datalist", { id: "var-names" }));
  names.replaceChildren(...variableNames().map((v) => el("option", { value: v })));
}

export function renderNodeForm() {
  const box = $("tab-node");
  box.replaceChildren();
  const i = nodeIndex(S.selected);
  if (i < 0) {
    box.append(el("div", { className: "hint" },
      el("p", { text: "Click a node on the diagram or in the list to edit it." }),
      el("p", { className: "muted", text: "Add nodes with the panel on the left; link them with the “go to” fields of each node." })));
    return;
  }
  const node = nodes()[i];
  const path = `$.nodes[${i}]`;
  const ks = kindSpec(node.type);
  const form = el("div", { className: "node-form", dataset: { path } });
  const idInput = el("input", { value: String(node.id || ""), className: "mono", "aria-label": "Node id" });
  idInput.addEventListener("change", () => {
    const value = idInput.value.trim();
    if (value === node.id) return;
    if (!IDENT.test(value)) { status("A node id uses lowercase letters, digits and _, starting with a letter.", "error"); idInput.value = node.id; return; }
    if (nodeIndex(value) >= 0) { status(`There is already a node ${value}.`, "error"); idInput.value = node.id; return; }
    renameNode(node.id, value);
    status(`Renamed the node to ${value}; links to it follow.`, "ok");
    changed({ inspector: true });
  });
  const kindSelect = el("select", { "aria-label": "Kind of node", onchange: () => changeKind(node, kindSelect.value) });
  for (const type of spec.order) kindSelect.append(el("option", { value: type, text: `${spec.kinds[type].group}: ${spec.kinds[type].label}` }));
  kindSelect.value = node.type;
  form.append(el("div", { className: "node-head" },
    el("span", { className: "swatch big " + kindClass(node.type) }),
    el("div", { className: "field", dataset: { path: `${path}.id` } }, el("label", {}, el("span", { className: "field-label", text: "Node id" }), idInput)),
    el("div", { className: "field", dataset: { path: `${path}.type` } }, el("label", {}, el("span", { className: "field-label", text: "Kind" }), kindSelect))));
  form.append(el("div", { className: "node-problems" }));
  const startButton = node.id === S.doc.start
    ? el("span", { className: "badge ok", text: "the topic starts here" })
    : el("button", { type: "button", className: "small", text: "Start here", onclick: () => { S.doc.start = node.id; changed({ inspector: true }); } });
  if (!ks) {
    form.append(el("p", { className: "flash flash-error", text: `Unknown kind ${node.type}: choose one above.` }));
  } else {
    for (const f of ks.fields) form.append(widget(node, f, `${path}.${f.name}`));
  }
  form.append(el("div", { className: "form-actions spread" }, startButton,
    el("button", { type: "button", className: "danger small", text: "Delete node", onclick: () => deleteNode(node.id) })));
  box.append(form);
}

export function renderTopicForm() {
  const box = $("tab-topic");
  box.replaceChildren();
  const doc = S.doc;
  const form = el("div", { className: "topic-form", dataset: { path: "$" } });
  form.append(el("div", { className: "node-problems" }));
  form.append(el("div", { className: "field", dataset: { path: "$.id" } },
    el("span", { className: "field-label", text: "Id" }), el("code", { text: String(doc.id) }),
    el("small", { className: "help", text: "Change it with Rename on the topic list." })));
  for (const f of spec.topic) form.append(widget(doc, f, `$.${f.name}`));
  const authorVersion = Object.assign({}, { name: "version", label: "Author's version number", widget: "number", min: 1, required: true });
  form.append(widget(doc, authorVersion, "$.version"));
  // Discovery
  form.append(el("h3", { text: "How users find it" }));
  if (!doc.discovery || typeof doc.discovery !== "object") doc.discovery = {};
  const disc = doc.discovery;
  const tidy = () => { if (!Object.keys(disc).length) delete doc.discovery; };
  for (const [name, label, help] of [["keywords", "Keywords", "One per line, e.g. issue"], ["phrases", "Phrases", "One per line, e.g. I have a problem"]]) {
    const area = el("textarea", { rows: 3, value: Array.isArray(disc[name]) ? disc[name].join("\n") : "",
      oninput: () => { setValue(disc, name, area.value.split("\n").map((w) => w.trim()).filter(Boolean)); if (!doc.discovery) doc.discovery = disc; tidy(); changed({ list: false }); } });
    form.append(fieldShell({ label, help }, `$.discovery.${name}`, area));
  }
  tidy();
  // Variables
  form.append(el("h3", { text: "Variables" }));
  form.append(variablesEditor());
  form.append(el("h3", { text: "Data sources" }));
  form.append(dataSourcesEditor());
  box.append(form);
}

export function keyPath(base, key) {
  // Written as the validator writes it (engine/validation/documents.py json_path), so its
  // problems find the field.
  return /^[A-Za-z_]\w*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

export function renameKey(obj, oldKey, newKey) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) out[k === oldKey ? newKey : k] = v;
  for (const k of Object.keys(obj)) delete obj[k];
  Object.assign(obj, out);
}

export function variablesEditor() {
  const doc = S.doc;
  const vars = doc.variables && typeof doc.variables === "object" ? doc.variables : {};
  const wrap = el("div", { className: "objects", dataset: { path: "$.variables" } });
  for (const [name, def] of Object.entries(vars)) {
    const path = keyPath("$.variables", name);
    const nameInput = el("input", { value: name, className: "mono", "aria-label": "Variable name" });
    nameInput.addEventListener("change", () => {
      const v = nameInput.value.trim();
      if (!v || v === name || v in vars) { nameInput.value = name; return; }
      renameKey(vars, name, v); changed({ inspector: true });
    });
    const typeSelect = el("select", { "aria-label": "Type", onchange: () => { setValue(def, "type", typeSelect.value); changed({ list: false }); } });
    typeSelect.append(el("option", { value: "", text: "any" }));
    for (const t of spec.variable_types) typeSelect.append(el("option", { value: t, text: t }));
    typeSelect.value = def.type || "";
    const sensitive = el("input", { type: "checkbox", checked: def.sensitive, onchange: () => { setValue(def, "sensitive", sensitive.checked || ""); changed({ list: false }); } });
    wrap.append(el("div", { className: "object-card", dataset: { path } },
      el("div", { className: "object-head" }, nameInput, typeSelect,
        el("label", { className: "check", title: "Redacted in stored transcripts" }, sensitive, " sensitive"),
        el("button", { type: "button", className: "icon danger", "aria-label": "Remove variable", text: "✕",
          onclick: () => { delete vars[name]; if (!Object.keys(vars).length) delete doc.variables; changed({ inspector: true }); } })),
      el("div", { className: "field", dataset: { path: `${path}.description` } },
        textInput(def, "description", { placeholder: "What it holds" }))));
  }
  wrap.append(el("button", { type: "button", className: "small", text: "+ Add a variable", onclick: () => {
    doc.variables = vars;
    let name = "answer"; let n = 2;
    while (name in vars) name = `answer_${n++}`;
    vars[name] = { type: "string" };
    changed({ inspector: true });
  } }));
  return wrap;
}

export function dataSourcesEditor() {
  const doc = S.doc;
  const sources = doc.data_sources && typeof doc.data_sources === "object" ? doc.data_sources : {};
  const wrap = el("div", { className: "objects", dataset: { path: "$.data_sources" } });
  for (const [name, source] of Object.entries(sources)) {
    const path = keyPath("$.data_sources", name);
    const nameInput = el("input", { value: name, className: "mono", "aria-label": "Data source name" });
    nameInput.addEventListener("change", () => {
      const v = nameInput.value.trim();
      if (!v || v === name || v in sources) { nameInput.value = name; return; }
      renameKey(sources, name, v);
      for (const n of nodes()) if (n && n.source === name) n.source = v;
      changed({ inspector: true });
    });
    const kindSelect = el("select", { "aria-label": "Kind", onchange: () => {
      for (const k of Object.keys(source)) delete source[k];
      source.kind = kindSelect.value;
      if (source.kind === "sqlite") source.table = "cases";
      changed({ inspector: true });
    } });
    for (const k of ["sqlite", "http"]) kindSelect.append(el("option", { value: k, text: k === "sqlite" ? "local table" : "HTTP (JSON)" }));
    kindSelect.value = source.kind || "sqlite";
    const card = el("div", { className: "object-card", dataset: { path } },
      el("div", { className: "object-head" }, nameInput, kindSelect,
        el("button", { type: "button", className: "icon danger", "aria-label": "Remove data source", text: "✕",
          onclick: () => { delete sources[name]; if (!Object.keys(sources).length) delete doc.data_sources; changed({ inspector: true }); } })));
    for (const f of spec.data_sources[source.kind] || []) card.append(widget(source, f, `${path}.${f.name}`));
    wrap.append(card);
  }
  wrap.append(el("button", { type: "button", className: "small", text: "+ Add a data source", onclick: () => {
    doc.data_sources = sources;
    let name = "records"; let n = 2;
    while (name in sources) name = `records_${n++}`;
    sources[name] = { kind: "sqlite", table: "cases" };
    changed({ inspector: true });
  } }));
  return wrap;
}

export function renderInspector() {
  if (S.tab === "node") renderNodeForm();
  else if (S.tab === "topic") renderTopicForm();
  else if (S.tab === "notifications") renderNotificationsForm();
  else if (S.tab === "json") showJson();
  else if (S.tab === "tests") renderTranscripts();
  annotate();
}

export function setTab(tab) {
  S.tab = tab;
  document.querySelectorAll(".tabs [data-tab]").forEach((b) => {
    b.classList.toggle("active", b.dataset.tab === tab);
    b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  });
  for (const name of ["node", "topic", "notifications", "json", "tests"]) $("tab-" + name).classList.toggle("hidden", name !== tab);
  renderInspector();
}

export function select(id) {
  S.selected = id;
  S.selection = new Set();
  S.edge = null;
  renderNodeList();
  markDiagram();
  setTab("node");
}
