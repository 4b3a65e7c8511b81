// Form widgets for node fields: texts, node pickers, rows and mappings.

import { S, data } from "./state.js";
import { el, nodeIndex, nodes, slug } from "./util.js";
import { changed, setValue } from "./document.js";
import { select } from "./forms.js";

export function fieldShell(f, path, control, extraClass) {
  const label = el("span", { className: "field-label", text: f.label + (f.required ? " *" : "") });
  return el("div", { className: "field " + (extraClass || ""), dataset: { path } },
    el("label", {}, label, control),
    f.help ? el("small", { className: "help", text: f.help }) : null);
}

export function nodeSelect(current, onChange, options) {
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
export function defaultLanguage() {
  return typeof S.doc.default_language === "string" ? S.doc.default_language : "en";
}

export function defaultText(value) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return value[defaultLanguage()] || Object.values(value)[0] || "";
  }
  return value;
}

export function translated(obj, key) {
  const value = obj[key];
  return value && typeof value === "object" && !Array.isArray(value) ? value : null;
}

export function textInput(obj, key, opts) {
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

export function autoGrow(area) {
  const grow = () => {
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight + 2, 320) + "px";
  };
  area.addEventListener("input", grow);
  requestAnimationFrame(grow);
}

export function rowsEditor(f, path, rows, columns, onAdd, onRemove, onMove) {
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

export function listWidget(obj, f, path, columns, blank) {
  if (!Array.isArray(obj[f.name])) obj[f.name] = [];
  const list = obj[f.name];
  return rowsEditor(f, path, list, columns,
    () => { list.push(blank()); changed({ inspector: true }); },
    (i) => { list.splice(i, 1); if (!list.length && !f.required) delete obj[f.name]; changed({ inspector: true }); },
    (i, d) => { const j = i + d; if (j < 0 || j >= list.length) return; [list[i], list[j]] = [list[j], list[i]]; changed({ inspector: true }); });
}

export function cellInput(row, key, opts) {
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

export function mappingWidget(obj, f, path) {
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

// The queues that exist (from the page: the default queue, other topics' hand-offs, queues
// agents serve) and the ones this topic's hand-offs name now, offered while free text still
// works; the live check judges the name by the runtime's rule and shows why on the field.
function queueField(obj, f, path) {
  const known = new Map((data.queues || []).map((q) => [q.name, q.why]));
  for (const n of nodes()) {
    if (n && n !== obj && n.type === "flow.handoff" && typeof n.queue === "string" && n.queue && !known.has(n.queue)) {
      known.set(n.queue, "hand-off in this topic");
    }
  }
  const listId = `queue-names-${path.replace(/\W+/g, "_")}`;
  const input = textInput(obj, f.name, { mono: true, list: listId, placeholder: data.default_queue || "" });
  input.setAttribute("autocomplete", "off");
  const shell = fieldShell(f, path, input, "short");
  shell.append(el("datalist", { id: listId },
    Array.from(known, ([name, why]) => el("option", { value: name, label: `${name} · ${why}` }))));
  return shell;
}

export function widget(obj, f, path) {
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
    case "queue":
      return queueField(obj, f, path);
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
