// Live checks: runs the validator, shows problems on the forms and in the problem list.

import { $, S, data } from "./state.js";
import { api, debounce, el, nodeIndex, nodes, status } from "./util.js";
import { renderNodeList, setTab } from "./forms.js";
import { markDiagram } from "./diagram.js";
import { scheduleDiagram, showDiagram } from "./focus.js";
import { markNotificationsTab, showSmsCosts } from "./notifications.js";

export const scheduleCheck = debounce(runCheck, 350);

// The checks come back without the diagram (tens of milliseconds even on a big topic); the
// diagram follows on its own request (focus.js), so typing never waits for Graphviz.
export async function runCheck() {
  const seq = ++S.seq;
  const result = await api(data.urls.check + "?diagram=0", { document: S.doc });
  if (seq !== S.seq) return;
  if (!result.ok) { status(result.json.error || "The check failed.", "error"); return; }
  applyCheck(result.json);
}

export function applyCheck(result) {
  S.problems = result.problems || [];
  S.errors = result.errors || 0;
  S.warnings = result.warnings || 0;
  S.sms = result.sms || {};
  const badge = $("badge-checks");
  badge.textContent = S.errors ? `${S.errors} error${S.errors === 1 ? "" : "s"}` + (S.warnings ? `, ${S.warnings} warning${S.warnings === 1 ? "" : "s"}` : "")
    : S.warnings ? `${S.warnings} warning${S.warnings === 1 ? "" : "s"}` : "no problems";
  badge.className = "badge " + (S.errors ? "error" : S.warnings ? "warning" : "ok");
  $("publish-btn").classList.toggle("blocked", S.errors > 0);
  $("publish-btn").title = S.errors ? "Fix the errors first: a topic with errors cannot be published." : "Make this the version users get";
  renderProblems();
  renderNodeList();
  markNotificationsTab();
  annotate();
  showSmsCosts();
  if (result.svg || result.diagram_error) showDiagram(result);
  else if (result.document !== null) scheduleDiagram();
}

export function fieldTarget(p) {
  if (p.field) return p.field;
  const m = /needs '([A-Za-z_][\w]*)'/.exec(p.message) || /^'([A-Za-z_][\w]*)' is a required property/.exec(p.message);
  return m ? `${p.path}.${m[1]}` : p.path;
}

export function parentPath(path) {
  const m = /^(.*)(\.[A-Za-z_]\w*|\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\['[^']*'\])$/.exec(path);
  return m ? m[1] : null;
}

export function annotate() {
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

export function problemNode(p) {
  if (p.node && nodeIndex(p.node) >= 0) return p.node;
  const m = /^\$\.nodes\[(\d+)\]/.exec(p.path);
  const n = m && nodes()[Number(m[1])];
  return n && typeof n.id === "string" ? n.id : null;
}

export function goToProblem(p) {
  const node = problemNode(p);
  if (node) { S.selected = node; renderNodeList(); markDiagram(); setTab("node"); }
  else setTab(p.path.startsWith("$.notifications") ? "notifications" : "topic");
  let path = fieldTarget(p);
  let target = null;
  while (path && !(target = document.querySelector(`.inspector [data-path="${CSS.escape(path)}"]`))) path = parentPath(path);
  if (target) {
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    const control = target.querySelector("input, select, textarea");
    if (control) control.focus({ preventScroll: true });
  }
}

export function renderProblems() {
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
