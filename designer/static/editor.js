// The topic editor: forms for every kind of node, a JSON view, live checks and the diagram.
// Author text only ever reaches the page through textContent and form values.
"use strict";

window.Parley = window.Parley || {};

(function () {
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("editor-data").textContent);
  const spec = data.spec;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const NODE_REF_KEYS = ["next", "on_yes", "on_no", "otherwise", "on_max_attempts", "on_empty",
    "on_not_found"];
  const IDENT = /^[a-z][a-z0-9_]{0,63}$/;

  const S = {
    doc: data.document,
    selected: null,
    tab: "node",
    problems: [],
    errors: 0,
    warnings: 0,
    version: data.version,
    latest: data.latest_version,
    published: data.published_version,
    savedText: JSON.stringify(data.document),
    zoom: undefined,
    current: null,
    visited: [],
    seq: 0,
    jsonEditing: false,
  };

  // ------------------------------------------------------------------ small helpers

  function el(tag, props, ...children) {
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

  async function api(url, body) {
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

  function status(message, kind) {
    const line = $("status");
    line.textContent = message || "";
    line.className = "status-line" + (kind ? " " + kind : "");
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function nodes() { return Array.isArray(S.doc.nodes) ? S.doc.nodes : []; }
  function nodeIndex(id) { return nodes().findIndex((n) => n && n.id === id); }
  function selectedNode() {
    const i = nodeIndex(S.selected);
    return i >= 0 ? nodes()[i] : null;
  }
  function kindSpec(type) { return spec.kinds[type]; }
  function kindClass(type) {
    if (!type) return "k-unknown";
    if (type === "flow.end" || type === "flow.handoff") return "k-end";
    return "k-" + type.split(".")[0];
  }
  function slug(text) {
    let s = String(text).toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    if (s && !/^[a-z]/.test(s)) s = "v_" + s;
    return s.slice(0, 64);
  }
  function variableNames() {
    const names = new Set(Object.keys(S.doc.variables || {}));
    for (const n of nodes()) if (n && typeof n.var === "string" && n.var) names.add(n.var);
    return Array.from(names).sort();
  }

  // ------------------------------------------------------------------ document changes

  function changed(options) {
    const opts = options || {};
    updateDirty();
    $("topic-title").textContent = defaultText(S.doc.name) || data.topic_id;
    if (opts.list !== false) renderNodeList();
    if (opts.inspector) renderInspector();
    if (S.tab === "json" && !S.jsonEditing) showJson();
    scheduleCheck();
  }

  function isDirty() { return JSON.stringify(S.doc) !== S.savedText; }

  function updateDirty() {
    $("badge-unsaved").classList.toggle("hidden", !isDirty());
  }

  function setValue(obj, key, value) {
    if (value === "" || value === undefined || value === null ||
        (Array.isArray(value) && value.length === 0)) delete obj[key];
    else obj[key] = value;
  }

  function renameNode(oldId, newId) {
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

  function uniqueId(base) {
    let id = slug(base) || "node";
    if (nodeIndex(id) < 0) return id;
    for (let i = 2; ; i++) {
      const candidate = `${id}_${i}`.slice(0, 64);
      if (nodeIndex(candidate) < 0) return candidate;
    }
  }

  const NEW_NODE = {
    "input.static_choice": () => ({ options: [{ label: "", value: "" }] }),
    "response.card": () => ({ fields: [{ label: "", value: "" }] }),
    "flow.branch": () => ({ conditions: [{ when: "" }] }),
    "flow.create_record": () => ({ table: "cases", fields: { short_description: "" } }),
  };
  const ID_HINT = {
    "input.text": "ask_text", "input.static_choice": "ask_choice",
    "input.dynamic_choice": "pick_item", "input.boolean": "ask_yes_no",
    "input.file_picker": "ask_photo", "response.text": "say", "response.image": "show_image",
    "response.link": "send_link", "response.card": "show_card", "flow.branch": "branch",
    "flow.set": "set_values", "flow.lookup": "look_up", "flow.create_record": "open_case",
    "flow.handoff": "live_agent", "flow.end": "end",
  };

  function connect(from, toId) {
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

  function addNode() {
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

  function deleteNode(id) {
    if (!window.confirm(`Delete the node ${id}? Links to it will show as errors until you reconnect them.`)) return;
    const i = nodeIndex(id);
    if (i < 0) return;
    S.doc.nodes.splice(i, 1);
    S.selected = null;
    status(`Deleted ${id}.`, "ok");
    changed({ inspector: true });
  }

  function changeKind(node, type) {
    const keep = new Set(["id", "type", "title", "notes",
      ...kindSpec(type).fields.map((f) => f.name)]);
    for (const key of Object.keys(node)) if (!keep.has(key)) delete node[key];
    node.type = type;
    Object.assign(node, Object.fromEntries(
      Object.entries((NEW_NODE[type] || (() => ({})))()).filter(([k]) => !(k in node))));
    changed({ inspector: true });
  }

  // ------------------------------------------------------------------ widgets

  function fieldShell(f, path, control, extraClass) {
    const label = el("span", { className: "field-label", text: f.label + (f.required ? " *" : "") });
    return el("div", { className: "field " + (extraClass || ""), dataset: { path } },
      el("label", {}, label, control),
      f.help ? el("small", { className: "help", text: f.help }) : null);
  }

  function nodeSelect(current, onChange, options) {
    const opts = options || {};
    const select = el("select", { onchange: () => onChange(select.value) });
    select.append(el("option", { value: "", text: opts.none || "— choose a node —" }));
    for (const n of nodes()) {
      if (!n || typeof n.id !== "string") continue;
      const title = n.title && typeof n.title === "string" ? ` · ${n.title}` : "";
      select.append(el("option", { value: n.id, text: `${n.id}${title}` }));
    }
    if (current && nodeIndex(current) < 0) {
      select.append(el("option", { value: current, text: `${current} (missing!)` }));
    }
    select.value = current || "";
    return select;
  }

  // A text written per language ({"en": ..., "es": ...}) is edited here in the topic's
  // default language; the Translations page edits the others side by side.
  function defaultLanguage() {
    return typeof S.doc.default_language === "string" ? S.doc.default_language : "en";
  }

  function defaultText(value) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return value[defaultLanguage()] || Object.values(value)[0] || "";
    }
    return value;
  }

  function translated(obj, key) {
    const value = obj[key];
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  }

  function textInput(obj, key, opts) {
    const o = opts || {};
    if (translated(obj, key)) return textInput(obj[key], defaultLanguage(), opts);
    const input = el(o.multiline ? "textarea" : "input", {
      value: obj[key] === undefined ? "" : String(obj[key]),
      placeholder: o.placeholder, rows: o.multiline ? 3 : null,
      className: o.mono ? "mono" : null, list: o.list,
      oninput: () => { setValue(obj, key, input.value); changed({ list: o.list !== undefined || key === "title" }); },
    });
    if (o.multiline) autoGrow(input);
    return input;
  }

  function autoGrow(area) {
    const grow = () => {
      area.style.height = "auto";
      area.style.height = Math.min(area.scrollHeight + 2, 320) + "px";
    };
    area.addEventListener("input", grow);
    requestAnimationFrame(grow);
  }

  function rowsEditor(f, path, rows, columns, onAdd, onRemove, onMove) {
    const table = el("div", { className: "rows" });
    rows.forEach((row, i) => {
      const line = el("div", { className: "row", dataset: { path: `${path}[${i}]` } });
      for (const col of columns) {
        line.append(el("div", { className: "cell " + (col.wide ? "wide" : ""), dataset: { path: `${path}[${i}].${col.key}` } },
          col.render(row, i)));
      }
      line.append(el("div", { className: "row-buttons" },
        onMove ? el("button", { type: "button", className: "icon", title: "Move up", "aria-label": "Move up",
          disabled: i === 0, onclick: () => onMove(i, -1), text: "↑" }) : null,
        el("button", { type: "button", className: "icon danger", title: "Remove", "aria-label": "Remove",
          onclick: () => onRemove(i), text: "✕" })));
      table.append(line);
    });
    const head = el("div", { className: "row head" },
      columns.map((c) => el("div", { className: "cell " + (c.wide ? "wide" : ""), text: c.label })),
      el("div", { className: "row-buttons" }));
    const add = el("button", { type: "button", className: "small add-row", onclick: onAdd,
      text: "+ " + (f.add_label || "Add") });
    return el("div", { className: "field rows-field", dataset: { path } },
      el("span", { className: "field-label", text: f.label + (f.required ? " *" : "") }),
      f.help ? el("small", { className: "help", text: f.help }) : null,
      rows.length ? head : null, table, add);
  }

  function listWidget(obj, f, path, columns, blank) {
    if (!Array.isArray(obj[f.name])) obj[f.name] = [];
    const list = obj[f.name];
    return rowsEditor(f, path, list, columns,
      () => { list.push(blank()); changed({ inspector: true }); },
      (i) => { list.splice(i, 1); if (!list.length && !f.required) delete obj[f.name]; changed({ inspector: true }); },
      (i, d) => { const j = i + d; if (j < 0 || j >= list.length) return; [list[i], list[j]] = [list[j], list[i]]; changed({ inspector: true }); });
  }

  function cellInput(row, key, opts) {
    const o = opts || {};
    const input = el(o.multiline ? "textarea" : "input", {
      value: row[key] === undefined ? "" : String(row[key]), placeholder: o.placeholder,
      rows: o.multiline ? 1 : null, "aria-label": o.placeholder,
      oninput: () => {
        if (o.keep) row[key] = input.value; else setValue(row, key, input.value);
        if (o.after) o.after(input.value);
        changed({ list: false });
      },
    });
    return input;
  }

  function mappingWidget(obj, f, path) {
    const entries = Object.entries(obj[f.name] && typeof obj[f.name] === "object" ? obj[f.name] : {});
    const write = () => {
      const out = {};
      for (const [k, v] of entries) out[k] = v;
      if (entries.length || f.required) obj[f.name] = out; else delete obj[f.name];
    };
    const listId = f.keys ? `keys-${f.name}` : null;
    const columns = [
      { key: "k", label: f.key_label || "Name", render: (row, i) => {
        const input = el("input", { value: row[0], className: "mono", list: listId, "aria-label": f.key_label,
          oninput: () => { entries[i][0] = input.value; write(); changed({ list: false }); } });
        return input;
      } },
      { key: "v", label: f.value_label || "Value", wide: true, render: (row, i) => {
        const input = el("input", { value: row[1] === undefined ? "" : String(row[1]), "aria-label": f.value_label,
          oninput: () => { entries[i][1] = input.value; write(); changed({ list: false }); } });
        return input;
      } },
    ];
    const widget = rowsEditor(f, path, entries, columns,
      () => { entries.push(["", ""]); write(); changed({ inspector: true }); },
      (i) => { entries.splice(i, 1); write(); changed({ inspector: true }); });
    // Problems about one entry point at its key: $.nodes[2].fields.category
    entries.forEach(([key], i) => {
      const row = widget.querySelectorAll(".rows > .row")[i];
      if (row) row.dataset.path = /^[A-Za-z_]\w*$/.test(key) ? `${path}.${key}` : `${path}['${key}']`;
    });
    if (listId) widget.append(el("datalist", { id: listId }, f.keys.map((k) => el("option", { value: k }))));
    return widget;
  }

  function widget(obj, f, path) {
    const key = f.name;
    switch (f.widget) {
      case "text":
        return fieldShell(f, path, textInput(obj, key, { placeholder: f.placeholder, mono: key === "url" }));
      case "template":
      case "textarea":
        return fieldShell(f, path, textInput(obj, key, { multiline: true }));
      case "number": {
        const input = el("input", { type: "number", min: f.min, max: f.max, placeholder: f.placeholder,
          value: obj[key] === undefined ? "" : String(obj[key]),
          oninput: () => { setValue(obj, key, input.value === "" ? "" : Number(input.value)); changed({ list: false }); } });
        return fieldShell(f, path, input, "short");
      }
      case "bool": {
        const fallback = Boolean(f.default);
        const input = el("input", { type: "checkbox", checked: obj[key] === undefined ? fallback : obj[key],
          onchange: () => { if (input.checked === fallback) delete obj[key]; else obj[key] = input.checked; changed({ list: false }); } });
        return el("div", { className: "field check", dataset: { path } },
          el("label", {}, input, " ", f.label), f.help ? el("small", { className: "help", text: f.help }) : null);
      }
      case "enum": {
        const select = el("select", { onchange: () => { setValue(obj, key, select.value); changed({ list: false }); } });
        if (!f.required && f.default === undefined) select.append(el("option", { value: "", text: "—" }));
        for (const choice of f.choices) select.append(el("option", { value: choice, text: choice }));
        select.value = obj[key] !== undefined ? obj[key] : (f.default !== undefined ? f.default : "");
        return fieldShell(f, path, select, "short");
      }
      case "node":
        return fieldShell(f, path, nodeSelect(obj[key], (v) => { setValue(obj, key, v); changed({}); },
          { none: f.required ? "— choose a node —" : "— none —" }));
      case "var": {
        const input = textInput(obj, key, { mono: true, list: "var-names", placeholder: "e.g. details" });
        return fieldShell(f, path, input, "short");
      }
      case "source": {
        const select = el("select", { onchange: () => { setValue(obj, key, select.value); changed({ list: false }); } });
        select.append(el("option", { value: "", text: "— choose a data source —" }));
        const names = Object.keys(S.doc.data_sources || {});
        for (const name of names) select.append(el("option", { value: name, text: name }));
        if (obj[key] && !names.includes(obj[key])) select.append(el("option", { value: obj[key], text: `${obj[key]} (missing!)` }));
        select.value = obj[key] || "";
        const shell = fieldShell(f, path, select);
        if (!names.length) shell.append(el("small", { className: "help", text: "Add a data source on the Topic tab first." }));
        return shell;
      }
      case "words": {
        const [owner, slot] = translated(obj, key) ? [obj[key], defaultLanguage()] : [obj, key];
        const area = el("textarea", { rows: 2, value: Array.isArray(owner[slot]) ? owner[slot].join("\n") : "",
          oninput: () => { setValue(owner, slot, area.value.split("\n").map((w) => w.trim()).filter(Boolean)); changed({ list: false }); } });
        return fieldShell(f, path, area);
      }
      case "options":
        return listWidget(obj, Object.assign({ add_label: "Add a choice" }, f), `${path}`, [
          { key: "label", label: "Label", wide: true, render: (row) => {
            let previous = row.label || "";
            const input = cellInput(row, "label", { placeholder: "Label", keep: true, after: (v) => {
              // The value follows the label until the author types a value of their own.
              if (!row.value || row.value === slug(previous)) {
                row.value = slug(v);
                const valueInput = input.closest(".row").querySelector('[data-role="value"]');
                if (valueInput) valueInput.value = row.value;
              }
              previous = v;
            } });
            return input;
          } },
          { key: "value", label: "Value", render: (row) => {
            const input = cellInput(row, "value", { placeholder: "Value", keep: true });
            input.dataset.role = "value";
            input.classList.add("mono");
            return input;
          } },
          { key: "next", label: "Goes to", render: (row) => nodeSelect(row.next, (v) => { setValue(row, "next", v); changed({}); }, { none: "↳ next" }) },
        ], () => ({ label: "", value: "" }));
      case "card_fields":
        return listWidget(obj, Object.assign({ add_label: "Add a field" }, f), path, [
          { key: "label", label: "Label", render: (row) => cellInput(row, "label", { placeholder: "Label", keep: true }) },
          { key: "value", label: "Value (template)", wide: true, render: (row) => cellInput(row, "value", { placeholder: "{{ case.number }}", keep: true }) },
        ], () => ({ label: "", value: "" }));
      case "conditions":
        return listWidget(obj, Object.assign({ add_label: "Add a condition" }, f), path, [
          { key: "when", label: "When", wide: true, render: (row) => { const i = cellInput(row, "when", { placeholder: 'category == "billing"' }); i.classList.add("mono"); return i; } },
          { key: "label", label: "Label", render: (row) => cellInput(row, "label", { placeholder: "Label" }) },
          { key: "next", label: "Go to", render: (row) => nodeSelect(row.next, (v) => { setValue(row, "next", v); changed({}); }) },
        ], () => ({ when: "" }));
      case "mapping":
        return mappingWidget(obj, f, path);
      default:
        return fieldShell(f, path, textInput(obj, key, {}));
    }
  }

  // ------------------------------------------------------------------ rendering

  function renderNodeList() {
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

  function renderNodeForm() {
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

  function renderTopicForm() {
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

  function keyPath(base, key) {
    return /^[A-Za-z_]\w*$/.test(key) ? `${base}.${key}` : `${base}['${key}']`;
  }

  function renameKey(obj, oldKey, newKey) {
    const out = {};
    for (const [k, v] of Object.entries(obj)) out[k === oldKey ? newKey : k] = v;
    for (const k of Object.keys(obj)) delete obj[k];
    Object.assign(obj, out);
  }

  function variablesEditor() {
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

  function dataSourcesEditor() {
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

  function renderInspector() {
    if (S.tab === "node") renderNodeForm();
    else if (S.tab === "topic") renderTopicForm();
    else if (S.tab === "json") showJson();
    else if (S.tab === "tests") renderTranscripts();
    annotate();
  }

  function setTab(tab) {
    S.tab = tab;
    document.querySelectorAll(".tabs [data-tab]").forEach((b) => {
      b.classList.toggle("active", b.dataset.tab === tab);
      b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    });
    for (const name of ["node", "topic", "json", "tests"]) $("tab-" + name).classList.toggle("hidden", name !== tab);
    renderInspector();
  }

  function select(id) {
    S.selected = id;
    renderNodeList();
    markDiagram();
    setTab("node");
  }

  // ------------------------------------------------------------------ JSON view

  function showJson() {
    const area = $("json-text");
    if (document.activeElement !== area) area.value = JSON.stringify(S.doc, null, 2);
  }

  const checkJson = debounce(async () => {
    const seq = ++S.seq;
    const result = await api(data.urls.check, { text: $("json-text").value });
    if (seq !== S.seq) return;
    const state = $("json-state");
    if (result.json.document) {
      S.doc = result.json.document;
      state.textContent = "The JSON parses; forms and diagram follow it.";
      state.className = "json-state ok";
      if (S.selected && nodeIndex(S.selected) < 0) S.selected = null;
      updateDirty();
      $("topic-title").textContent = defaultText(S.doc.name) || data.topic_id;
      renderNodeList();
    } else {
      const first = (result.json.problems || [])[0];
      state.textContent = first ? `${first.path}: ${first.message}` : "The JSON does not parse.";
      state.className = "json-state error";
    }
    applyCheck(result.json);
  }, 400);

  // ------------------------------------------------------------------ checks and diagram

  const scheduleCheck = debounce(runCheck, 350);

  async function runCheck() {
    const seq = ++S.seq;
    const result = await api(data.urls.check, { document: S.doc });
    if (seq !== S.seq) return;
    if (!result.ok) { status(result.json.error || "The check failed.", "error"); return; }
    applyCheck(result.json);
  }

  function applyCheck(result) {
    S.problems = result.problems || [];
    S.errors = result.errors || 0;
    S.warnings = result.warnings || 0;
    const badge = $("badge-checks");
    badge.textContent = S.errors ? `${S.errors} error${S.errors === 1 ? "" : "s"}` + (S.warnings ? `, ${S.warnings} warning${S.warnings === 1 ? "" : "s"}` : "")
      : S.warnings ? `${S.warnings} warning${S.warnings === 1 ? "" : "s"}` : "no problems";
    badge.className = "badge " + (S.errors ? "error" : S.warnings ? "warning" : "ok");
    $("publish-btn").classList.toggle("blocked", S.errors > 0);
    $("publish-btn").title = S.errors ? "Fix the errors first: a topic with errors cannot be published." : "Make this the version users get";
    renderProblems();
    renderNodeList();
    annotate();
    if (result.svg) drawDiagram(result.svg);
    else if (result.diagram_error) {
      const box = $("diagram");
      if (!box.querySelector("svg")) box.replaceChildren(el("p", { className: "muted pad", text: result.diagram_error }));
    }
  }

  function fieldTarget(p) {
    if (p.field) return p.field;
    const m = /needs '([A-Za-z_][\w]*)'/.exec(p.message) || /^'([A-Za-z_][\w]*)' is a required property/.exec(p.message);
    return m ? `${p.path}.${m[1]}` : p.path;
  }

  function parentPath(path) {
    const m = /^(.*)(\.[A-Za-z_]\w*|\[\d+\]|\['[^']*'\])$/.exec(path);
    return m ? m[1] : null;
  }

  function annotate() {
    const scope = document.querySelector(".inspector");
    scope.querySelectorAll(".has-error, .has-warning").forEach((n) => n.classList.remove("has-error", "has-warning"));
    scope.querySelectorAll(".field-problem").forEach((n) => n.remove());
    const byPath = new Map();
    scope.querySelectorAll("[data-path]").forEach((n) => { if (!byPath.has(n.dataset.path)) byPath.set(n.dataset.path, n); });
    for (const p of S.problems) {
      let path = fieldTarget(p);
      let target = null;
      while (path && !(target = byPath.get(path))) path = parentPath(path);
      if (!target) continue;
      // A row's or a cell's message goes on a line of its own under the row: inside the
      // row's flex line it would squeeze the inputs to nothing.
      const holder = target.classList.contains("node-form") || target.classList.contains("topic-form")
        ? target.querySelector(".node-problems")
        : target.classList.contains("cell") ? target.closest(".row") : target;
      if (!holder) continue;
      target.classList.add(p.severity === "error" ? "has-error" : "has-warning");
      holder.append(el("div", { className: "field-problem " + p.severity, text: p.form_message || p.message }));
    }
  }

  function problemNode(p) {
    if (p.node && nodeIndex(p.node) >= 0) return p.node;
    const m = /^\$\.nodes\[(\d+)\]/.exec(p.path);
    const n = m && nodes()[Number(m[1])];
    return n && typeof n.id === "string" ? n.id : null;
  }

  function goToProblem(p) {
    const node = problemNode(p);
    if (node) { S.selected = node; renderNodeList(); markDiagram(); setTab("node"); }
    else setTab("topic");
    let path = fieldTarget(p);
    let target = null;
    while (path && !(target = document.querySelector(`.inspector [data-path="${CSS.escape(path)}"]`))) path = parentPath(path);
    if (target) {
      target.scrollIntoView({ block: "center", behavior: "smooth" });
      const control = target.querySelector("input, select, textarea");
      if (control) control.focus({ preventScroll: true });
    }
  }

  function renderProblems() {
    const list = $("problem-list");
    list.replaceChildren();
    $("problem-count").textContent = S.problems.length ? String(S.problems.length) : "";
    $("problems-panel").classList.toggle("empty", !S.problems.length);
    if (!S.problems.length) {
      list.append(el("li", { className: "muted", text: "No problems. Try it, then publish." }));
      return;
    }
    const sorted = S.problems.slice().sort((a, b) => (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1));
    for (const p of sorted) {
      list.append(el("li", { className: "problem " + p.severity, tabindex: 0, role: "button",
        onclick: () => goToProblem(p), onkeydown: (e) => { if (e.key === "Enter") goToProblem(p); } },
      el("span", { className: "badge " + p.severity, text: p.severity }), " ",
      el("code", { text: p.path }), " ", el("span", { text: p.form_message || p.message })));
    }
  }

  function drawDiagram(svgText) {
    const box = $("diagram");
    const scroll = [box.scrollLeft, box.scrollTop];
    const svg = Parley.insertSvg(box, svgText);
    if (!svg) return;
    if (S.zoom === undefined) S.zoom = null;  // a diagram opens fitted to its panel
    Parley.zoomSvg(svg, S.zoom);
    [box.scrollLeft, box.scrollTop] = scroll;
    markDiagram();
  }

  function markDiagram() {
    const svg = $("diagram").querySelector("svg");
    if (!svg) return;
    svg.querySelectorAll('g[id^="node-"]').forEach((g) => {
      const id = g.id.startsWith("node-") ? g.id.slice(5) : null;
      g.classList.toggle("selected", id !== null && id === S.selected);
      g.classList.toggle("current", id !== null && id === S.current);
      g.classList.toggle("visited", id !== null && S.visited.includes(id) && id !== S.current);
    });
  }

  function zoomBy(factor) {
    const svg = $("diagram").querySelector("svg");
    if (!svg) return;
    if (S.zoom === null || S.zoom === undefined) S.zoom = svg.getBoundingClientRect().width / Number(svg.dataset.naturalWidth);
    S.zoom = Math.min(4, Math.max(0.1, S.zoom * factor));
    Parley.zoomSvg(svg, S.zoom);
  }

  // ------------------------------------------------------------------ saving and publishing

  async function save(note) {
    status("Saving…");
    const result = await api(data.urls.save, { document: S.doc, note: note || $("save-note").value });
    if (!result.ok) {
      status(result.json.error || "Saving failed.", "error");
      if (result.json.problems) applyCheck(result.json);
      return null;
    }
    S.savedText = JSON.stringify(S.doc);
    S.version = S.latest = result.json.version;
    $("save-note").value = "";
    $("badge-version").textContent = `v${S.version}`;
    updateDirty();
    const errors = result.json.errors;
    status(result.json.message + (errors ? ` It has ${errors} error${errors === 1 ? "" : "s"}: fix them before publishing.` : ""), errors ? "warn" : "ok");
    return result.json.version;
  }

  async function publish() {
    if (S.errors > 0) {
      status(`Fix the ${S.errors} error${S.errors === 1 ? "" : "s"} first: a topic with errors can be saved as a draft but not published.`, "error");
      $("problems-panel").scrollIntoView({ block: "nearest" });
      return;
    }
    let version = S.version;
    if (isDirty() || S.version !== S.latest) {
      version = await save($("save-note").value || "published");
      if (!version) return;
    }
    status("Publishing…");
    const result = await api(data.urls.publish, { version });
    if (!result.ok) {
      status(result.json.error || "Publishing failed.", "error");
      if (result.json.problems) applyCheck(result.json);
      return;
    }
    S.published = version;
    const badge = $("badge-published");
    badge.textContent = `published v${version}`;
    badge.className = "badge published";
    status(result.json.message, "ok");
  }

  // ------------------------------------------------------------------ transcripts

  function renderTranscripts() {
    const list = $("transcript-list");
    list.replaceChildren();
    if (!data.transcripts.length) {
      list.append(el("li", { className: "muted", text: "None yet: chat in the simulator (▶ Try it), then “Save as test”." }));
      return;
    }
    for (const t of data.transcripts) {
      list.append(el("li", {},
        el("a", { href: data.urls.transcript_download.replace(/0\.json$/, `${t.id}.json`), download: "", text: t.name }),
        el("span", { className: "muted", text: ` · ${t.author || ""} ${String(t.created_at || "").slice(0, 16).replace("T", " ")}` })));
    }
  }

  // ------------------------------------------------------------------ start-up

  function suggestId() {
    $("add-id").value = uniqueId(ID_HINT[$("add-kind").value] || "node");
  }

  function init() {
    const kindSelect = $("add-kind");
    const groups = {};
    for (const type of spec.order) {
      const k = spec.kinds[type];
      if (!groups[k.group]) { groups[k.group] = el("optgroup", { label: k.group }); kindSelect.append(groups[k.group]); }
      groups[k.group].append(el("option", { value: type, text: k.label }));
    }
    kindSelect.value = "response.text";
    kindSelect.addEventListener("change", suggestId);
    suggestId();
    $("add-btn").addEventListener("click", addNode);
    $("add-id").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addNode(); } });
    document.querySelectorAll(".tabs [data-tab]").forEach((b) => b.addEventListener("click", () => setTab(b.dataset.tab)));
    $("diagram").addEventListener("click", (e) => {
      const g = e.target.closest && e.target.closest('g[id^="node-"]');
      if (g) select(g.id.slice(5));
    });
    $("zoom-in").addEventListener("click", () => zoomBy(1.25));
    $("zoom-out").addEventListener("click", () => zoomBy(0.8));
    $("zoom-fit").addEventListener("click", () => { S.zoom = null; Parley.zoomSvg($("diagram").querySelector("svg"), null); });
    // A fitted diagram stays fitted when its panel changes size (the simulator opens, the
    // window is resized).
    new ResizeObserver(() => { if (S.zoom === null) Parley.zoomSvg($("diagram").querySelector("svg"), null); }).observe($("diagram"));
    $("save-btn").addEventListener("click", () => save());
    $("publish-btn").addEventListener("click", publish);
    const area = $("json-text");
    area.addEventListener("focus", () => { S.jsonEditing = true; });
    area.addEventListener("blur", () => { S.jsonEditing = false; });
    area.addEventListener("input", checkJson);
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); }
    });
    window.addEventListener("beforeunload", (e) => {
      if (isDirty()) { e.preventDefault(); e.returnValue = ""; }
    });
    renderNodeList();
    S.selected = nodes().length ? (nodes().find((n) => n && n.id === S.doc.start) || nodes()[0]).id : null;
    setTab("node");
    renderNodeList();
    runCheck();
    // Messages from the previous page ("Topic created") make way for the workspace.
    setTimeout(() => document.querySelectorAll(".flashes").forEach((f) => f.remove()), 6000);
  }

  Parley.editor = {
    data,
    api,
    document: () => S.doc,
    errors: () => S.errors,
    problems: () => S.problems,
    goToProblem,
    status,
    setCurrent(nodeId, visited) {
      S.current = nodeId;
      S.visited = visited || [];
      markDiagram();
      renderNodeList();
      const g = nodeId && document.getElementById("node-" + nodeId);
      if (g && g.scrollIntoView) g.scrollIntoView({ block: "nearest", inline: "nearest", behavior: "smooth" });
    },
    addTranscript(t) {
      data.transcripts.unshift(t);
      if (S.tab === "tests") renderTranscripts();
    },
  };

  init();
})();
