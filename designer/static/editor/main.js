// Start-up: wires the page's controls and exposes Parley.editor to the simulator.

import { $, S, data, spec } from "./state.js";
import { api, el, nodes, status } from "./util.js";
import { addNode, isDirty, redoEdit, suggestId, undoEdit } from "./document.js";
import { canRedo, canUndo, onHistoryChange, resetHistory } from "./history.js";
import { renderNodeList, setTab } from "./forms.js";
import { checkJson } from "./json.js";
import { goToProblem, runCheck } from "./checks.js";
import { markDiagram } from "./diagram.js";
import { initCanvas } from "./canvas/index.js";
import { fit, zoomAt } from "./canvas/zoom.js";
import { publish, renderTranscripts, save } from "./save.js";
import { initSearch } from "./search.js";
import { initFocus } from "./focus.js";

window.Parley = window.Parley || {};


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
  initCanvas();
  $("zoom-in").addEventListener("click", () => zoomAt(1.25));
  $("zoom-out").addEventListener("click", () => zoomAt(0.8));
  $("zoom-fit").addEventListener("click", fit);
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
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === "s") { e.preventDefault(); save(); }
    // The page's own undo replaces the browser's per-field one, so that one history covers
    // the forms, the JSON text and the diagram alike (the simulator's chat is not the topic).
    else if (e.target.closest && e.target.closest("#simulator")) return;
    else if (key === "z" && !e.shiftKey) { e.preventDefault(); undoEdit(); }
    else if ((key === "z" && e.shiftKey) || key === "y") { e.preventDefault(); redoEdit(); }
  });
  initSearch();
  initFocus();
  $("undo-btn").addEventListener("click", undoEdit);
  $("redo-btn").addEventListener("click", redoEdit);
  onHistoryChange(() => {
    $("undo-btn").disabled = !canUndo();
    $("redo-btn").disabled = !canRedo();
  });
  window.addEventListener("beforeunload", (e) => {
    if (isDirty()) { e.preventDefault(); e.returnValue = ""; }
  });
  renderNodeList();
  S.selected = nodes().length ? (nodes().find((n) => n && n.id === S.doc.start) || nodes()[0]).id : null;
  setTab("node");
  renderNodeList();
  resetHistory();
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
