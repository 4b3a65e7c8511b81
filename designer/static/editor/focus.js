// Fetching the diagram without blocking typing, and the focus view of big topics.
//
// The diagram is asked for apart from the checks (which come back in tens of milliseconds):
// only when the document changed since the last drawing, after a pause in typing, with any
// older request cancelled, and the old drawing stays until the new one arrives. A big topic
// never drawn before comes back as the part around its start while the server draws the
// whole: the bar above the diagram says so and the page asks again until it is ready. The
// author can focus on the selected node (or on a "⋯" box at the edge of the part) and go
// back to the whole topic.

import { $, S, csrf, data } from "./state.js";
import { debounce, el } from "./util.js";
import { drawDiagram } from "./diagram.js";

const POLL_MS = 2500;
const FOCUS_FROM_NODES = 300;  // smaller topics are drawn whole in well under a second
const view = { focus: null, drawn: null, controller: null, poll: null, whole: false };

export const scheduleDiagram = debounce(requestDiagram, 250);

function wanted() { return JSON.stringify(S.doc) + "\u0000" + (view.focus || ""); }

export async function requestDiagram({ force = false } = {}) {
  const key = wanted();
  if (!force && key === view.drawn) return;
  if (view.controller) view.controller.abort();
  clearTimeout(view.poll);
  const controller = view.controller = new AbortController();
  let response;
  try {
    response = await fetch(data.urls.diagram, {
      method: "POST", credentials: "same-origin", signal: controller.signal,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf,
        Accept: "application/json" },
      body: JSON.stringify({ document: S.doc, focus: view.focus }),
    });
  } catch (err) {
    if (err.name === "AbortError") return;
    throw err;
  }
  let result = {};
  try { result = await response.json(); } catch (err) { result = { diagram_error: response.statusText }; }
  if (controller !== view.controller) return;  // a newer request is on its way
  view.controller = null;
  showDiagram(result, key);
}

// Shows a diagram answer (from the diagram request or a check that drew one).
export function showDiagram(result, key = wanted()) {
  const box = $("diagram");
  if (result.pending) {
    // The whole topic is being drawn: ask again soon. A whole drawing already shown stays
    // (slightly out of date) rather than giving way to a part.
    view.poll = setTimeout(() => requestDiagram({ force: true }), POLL_MS);
    if (view.whole && box.querySelector("svg")) { renderBar(result); return; }
  } else {
    view.drawn = key;
  }
  if (result.svg) {
    drawDiagram(result.svg);
    view.whole = result.view !== "focus";
  } else if (result.diagram_error && !box.querySelector("svg")) {
    box.replaceChildren(el("p", { className: "muted pad", text: result.diagram_error }));
  }
  renderBar(result);
}

export function focusOn(nodeId) {
  view.focus = nodeId || null;
  S.zoom = null;  // a new part opens fitted
  requestDiagram();
}

function renderBar(result) {
  let bar = $("diagram-view");
  if (!bar) {
    bar = el("div", { id: "diagram-view", className: "diagram-view", role: "status" });
    $("diagram").before(bar);
  }
  const big = (result.nodes || 0) >= FOCUS_FROM_NODES;
  const parts = [];
  if (result.view === "focus") {
    parts.push(el("span", { text: `Showing ${result.shown} of ${result.nodes} nodes, around “${result.focus}”.` }));
    if (result.pending) parts.push(el("span", { className: "muted", text: " The whole topic is being drawn…" }));
    parts.push(" ", el("button", { type: "button", className: "link", text: "Show the whole topic",
      onclick: () => focusOn(null) }));
  } else if (result.pending) {
    parts.push(el("span", { className: "muted", text: "Redrawing the whole topic…" }));
  }
  if (big || result.view === "focus") {
    parts.push(" ", el("button", { type: "button", className: "link", id: "focus-selected",
      text: "Focus on the selected node", title: "Show only the nodes a few steps around it",
      onclick: () => { if (S.selected) focusOn(S.selected); } }));
  }
  bar.replaceChildren(...parts);
  bar.hidden = !parts.length;
}

// A "⋯ id" box at the edge of a part moves the focus there.
export function initFocus() {
  $("diagram").addEventListener("click", (e) => {
    const g = e.target.closest && e.target.closest("g.outside");
    if (g && g.id.startsWith("outside-")) focusOn(g.id.slice(8));
  });
}
