// The Notifications tab: the messages the team sends first (TOPIC.NAME on the Notify page,
// `parley notify`, the API), each with its text per language, start node, variables, programme
// and wait. Every edit goes through the document model (changed()), so undo, the JSON tab and
// the live checks follow; problems at $.notifications[i]... land on the fields (checks.js).

import { $, IDENT, S, data, spec as editorSpec } from "./state.js";
import { el, nodeIndex, nodes, status } from "./util.js";
import { changed, setValue } from "./document.js";
import { autoGrow, defaultLanguage, fieldShell } from "./widgets.js";

const GENERAL_PROGRAMME = "notifications";
const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABELS = editorSpec.notification;  // designer/kinds.py NOTIFICATION_LABELS

export function notificationList() {
  return Array.isArray(S.doc.notifications) ? S.doc.notifications : [];
}

// A JSON path as the validator writes it (engine.validation.documents.json_path).
function child(base, key) {
  if (typeof key === "number") return `${base}[${key}]`;
  return SIMPLE_KEY.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

// The topic's languages, the default first if not declared (engine.languages.topic_languages).
function topicLanguages() {
  const declared = Array.isArray(S.doc.languages) ? S.doc.languages.filter((c) => typeof c === "string") : [];
  return declared.includes(defaultLanguage()) ? declared : [defaultLanguage(), ...declared];
}

function perLanguage(text) {
  return text && typeof text === "object" && !Array.isArray(text) ? text : null;
}

function uniqueName(base) {
  const taken = new Set(notificationList().map((n) => n && n.name));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

export function renderNotificationsForm() {
  const box = $("tab-notifications");
  box.replaceChildren();
  const form = el("div", { className: "topic-form notifications-form", dataset: { path: "$.notifications" } });
  form.append(el("p", { className: "muted", text: "Messages the team sends first, as " +
    `${data.topic_id}.NAME (the Notify page, parley notify, the API). One with a start node ` +
    "starts the topic there: the user's reply answers that question." }));
  form.append(el("div", { className: "node-problems" }));
  const list = notificationList();
  const wrap = el("div", { className: "objects" });
  list.forEach((spec, i) => { if (spec && typeof spec === "object") wrap.append(notificationCard(spec, i)); });
  form.append(wrap);
  form.append(el("button", { type: "button", className: "small", id: "add-notification", text: "+ Add a notification", onclick: addNotification }));
  form.append(el("datalist", { id: "programme-names" },
    Array.from(new Set([GENERAL_PROGRAMME, ...list.map((n) => n && n.programme).filter((p) => typeof p === "string" && p)]))
      .map((p) => el("option", { value: p }))));
  box.append(form);
  showSmsCosts();
}

function addNotification() {
  if (!Array.isArray(S.doc.notifications)) S.doc.notifications = [];
  const name = uniqueName("notice");
  S.doc.notifications.push({ name });
  status(`Added the notification ${name}: write its text.`, "ok");
  changed({ inspector: true, list: false });
  const card = $("tab-notifications").querySelector(`[data-path="$.notifications[${S.doc.notifications.length - 1}]"]`);
  const area = card && card.querySelector("textarea");
  if (area) { area.scrollIntoView({ block: "nearest" }); area.focus(); }
}

function notificationCard(spec, i) {
  const path = `$.notifications[${i}]`;
  const card = el("div", { className: "object-card notification", dataset: { path } });
  card.append(el("div", { className: "object-head" }, nameField(spec, path),
    el("button", { type: "button", className: "icon danger", "aria-label": `Remove the notification ${spec.name}`, text: "✕", title: "Remove",
      onclick: () => {
        S.doc.notifications.splice(i, 1);
        if (!S.doc.notifications.length) delete S.doc.notifications;
        status(`Removed the notification ${spec.name}: undo brings it back.`, "ok");
        changed({ inspector: true, list: false });
      } })));
  card.append(textFields(spec, path));
  card.append(startField(spec, path));
  card.append(variablesField(spec, path));
  const programme = el("input", { value: spec.programme || "", className: "mono", list: "programme-names", placeholder: GENERAL_PROGRAMME,
    oninput: () => { setValue(spec, "programme", programme.value.trim()); changed({ list: false }); } });
  card.append(fieldShell({ label: LABELS.programme, help: "What recipients must have agreed to: notifications (START) unless you name another (the consent ledger)." },
    child(path, "programme"), programme, "short"));
  const wait = el("input", { type: "number", min: 0, max: 168, step: "any", placeholder: "24",
    value: spec.max_wait_hours === undefined ? "" : String(spec.max_wait_hours),
    oninput: () => { setValue(spec, "max_wait_hours", wait.value === "" ? "" : Number(wait.value)); changed({ list: false }); } });
  card.append(fieldShell({ label: LABELS.max_wait_hours, help: "With a start node: how long it waits for a recipient busy in another conversation before it is dropped." },
    child(path, "max_wait_hours"), wait, "short"));
  const note = el("textarea", { rows: 1, value: spec.description || "", placeholder: "What it is for",
    oninput: () => { setValue(spec, "description", note.value); changed({ list: false }); } });
  card.append(fieldShell({ label: LABELS.description }, child(path, "description"), note));
  return card;
}

// A rename is refused on the spot (the name is how senders call it): the reason stays on the
// field until the name is fixed.
function nameField(spec, path) {
  const sendAs = el("code", { className: "send-as", text: `${data.topic_id}.${spec.name || "…"}` });
  // Not a .field-problem: those are the live check's, replaced after every check.
  const problem = el("div", { className: "name-problem", role: "alert", hidden: true });
  const input = el("input", { value: String(spec.name || ""), className: "mono", "aria-label": "Notification name", maxlength: 64 });
  input.addEventListener("change", () => {
    const value = input.value.trim();
    const why = !IDENT.test(value) ? "A name uses lowercase letters, digits and _, starting with a letter."
      : value !== spec.name && notificationList().some((n) => n && n.name === value) ? `There is already a notification ${value}.`
        : null;
    problem.hidden = !why;
    problem.textContent = why || "";
    input.setAttribute("aria-invalid", String(Boolean(why)));
    if (why || value === spec.name) return;
    const old = spec.name;
    spec.name = value;
    status(`Renamed the notification ${old} to ${value}: senders now use ${data.topic_id}.${value}.`, "ok");
    changed({ inspector: true, list: false });
  });
  return el("div", { className: "field grow", dataset: { path: child(path, "name") } },
    el("label", {}, el("span", { className: "field-label", text: `${LABELS.name} *` }), input), sendAs, problem);
}

// One text per language in a topic of several (as the Translations page has them side by
// side), else one text; each with what it costs over SMS once the check has counted it.
function textFields(spec, path) {
  const languages = topicLanguages();
  const textPath = child(path, "text");
  const texts = perLanguage(spec.text);
  if (languages.length < 2 && !texts) {
    return fieldShell({ label: LABELS.text, required: true, help: "{{ variable }} inserts a value the sender gives; {{ user }} and {{ phone }} are always there." },
      textPath, textArea(spec.text, (v) => setValue(spec, "text", v)), "with-cost");
  }
  const codes = texts ? [...languages, ...Object.keys(texts).filter((c) => !languages.includes(c))] : languages;
  const write = (code, value) => {
    const current = perLanguage(spec.text) || (typeof spec.text === "string" && spec.text ? { [defaultLanguage()]: spec.text } : {});
    setValue(current, code, value);
    if (Object.keys(current).length) spec.text = current; else delete spec.text;
  };
  const wrap = el("div", { className: "field lang-texts", dataset: { path: textPath } },
    el("span", { className: "field-label", text: `${LABELS.text} *` }),
    el("small", { className: "help", text: "One per language; the send picks the recipient's. {{ variable }} inserts a value the sender gives." }));
  for (const code of codes) {
    const value = texts ? texts[code] : (code === defaultLanguage() ? spec.text : undefined);
    const name = data.language_names[code] || code;
    const label = code === defaultLanguage() ? `${name} (default)` : name;
    const area = textArea(value, (v) => write(code, v));
    area.setAttribute("lang", code);
    wrap.append(el("div", { className: "field lang-text with-cost", dataset: { path: child(textPath, code) } },
      el("label", {}, el("span", { className: "lang-label", text: label }), area),
      !languages.includes(code) ? el("small", { className: "help", text: "Not one of the topic's languages." }) : null));
  }
  return wrap;
}

function textArea(value, write) {
  const area = el("textarea", { rows: 2, value: typeof value === "string" ? value : "",
    oninput: () => { write(area.value); changed({ list: false }); } });
  autoGrow(area);
  return area;
}

function startField(spec, path) {
  const select = el("select", { onchange: () => { setValue(spec, "start", select.value); changed({ list: false }); } });
  select.append(el("option", { value: "", text: "— none: it only informs —" }));
  for (const n of nodes()) {
    if (!n || typeof n.id !== "string" || typeof n.type !== "string" || !n.type.startsWith("input.")) continue;
    select.append(el("option", { value: n.id, text: n.title && typeof n.title === "string" ? `${n.id} · ${n.title}` : n.id }));
  }
  if (spec.start && !select.querySelector(`option[value="${CSS.escape(spec.start)}"]`)) {
    select.append(el("option", { value: spec.start, text: `${spec.start} (${nodeIndex(spec.start) < 0 ? "missing" : "not a question"}!)` }));
  }
  select.value = spec.start || "";
  return fieldShell({ label: LABELS.start, help: "A question: the user's reply answers it, and the topic goes on from there. The text replaces its prompt." },
    child(path, "start"), select);
}

// The topic's declared variables, ticked when the sender fills them in (the validator refuses
// any other); one listed but not declared shows so that it can be unticked.
function variablesField(spec, path) {
  const listed = Array.isArray(spec.variables) ? spec.variables : [];
  const declared = Object.keys(S.doc.variables && typeof S.doc.variables === "object" ? S.doc.variables : {});
  const names = [...declared, ...listed.filter((v) => typeof v === "string" && !declared.includes(v))];
  const wrap = el("div", { className: "field variables-field", dataset: { path: child(path, "variables") } },
    el("span", { className: "field-label", text: LABELS.variables }),
    el("small", { className: "help", text: names.length ? "Their values come with each send (the Notify page, --var, the API)."
      : "Declare variables on the Topic tab first; {{ user }} and {{ phone }} need none." }));
  const boxes = el("div", { className: "var-checks" });
  for (const name of names) {
    const position = listed.indexOf(name);
    const box = el("input", { type: "checkbox", checked: position >= 0, onchange: () => {
      const now = Array.isArray(spec.variables) ? spec.variables.filter((v) => v !== name) : [];
      if (box.checked) now.push(name);
      setValue(spec, "variables", now);
      numberChecks(boxes, spec, path);
      changed({ list: false });
    } });
    boxes.append(el("div", { className: "var-check", dataset: { name } },
      el("label", { className: "check" }, box, " ", el("span", { className: "mono", text: name }),
        declared.includes(name) ? null : el("span", { className: "muted", text: " (not declared)" }))));
  }
  numberChecks(boxes, spec, path);
  wrap.append(boxes);
  return wrap;
}

// Problems about one listed variable name its position: $.notifications[0].variables[1].
function numberChecks(boxes, spec, path) {
  const listed = Array.isArray(spec.variables) ? spec.variables : [];
  boxes.querySelectorAll(".var-check").forEach((item) => {
    const position = listed.indexOf(item.dataset.name);
    if (position >= 0) item.dataset.path = child(child(path, "variables"), position);
    else delete item.dataset.path;
  });
}

function costText(cost) {
  const segments = (n) => `${n} segment${n === 1 ? "" : "s"}`;
  const footer = cost.with_footer !== cost.segments ? ` (${segments(cost.with_footer)} with the opt-out footer)` : "";
  return `${cost.chars} characters · ${cost.encoding} · ${segments(cost.segments)}${footer}`;
}

// Puts the last check's SMS costs (S.sms, by JSON path) under the texts shown.
export function showSmsCosts() {
  document.querySelectorAll("#tab-notifications .with-cost").forEach((field) => {
    let line = field.querySelector(":scope > .sms-cost");
    const cost = (S.sms || {})[field.dataset.path];
    if (!cost) { if (line) line.remove(); return; }
    if (!line) { line = el("small", { className: "sms-cost" }); field.append(line); }
    line.textContent = costText(cost);
    line.className = "sms-cost " + (cost.encoding === "UCS-2" ? "ucs2" : "gsm7");
    line.title = cost.encoding === "UCS-2"
      ? "A character outside the GSM-7 alphabet makes the whole message UCS-2: 70 characters per SMS (67 per part)."
      : "GSM-7: 160 characters per SMS (153 per part). Counted on the template as written.";
  });
}

// The tab's label counts the notifications and turns red while one has an error.
export function markNotificationsTab() {
  const count = notificationList().length;
  $("notification-count").textContent = count ? String(count) : "";
  const errors = S.problems.some((p) => p.severity === "error" && p.path.startsWith("$.notifications"));
  $("notifications-tab").classList.toggle("tab-error", errors);
}
