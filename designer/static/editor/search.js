// Node search: finds nodes by id or by any of their texts (every language), lists the
// matches under the box, and jumps to one: selected, centred on the diagram, its form open.

import { $ } from "./state.js";
import { el, nodes } from "./util.js";
import { select } from "./forms.js";

const MAX_RESULTS = 12;

function texts(value, out) {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => texts(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => texts(v, out));
  return out;
}

export function findNodes(query) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const byId = [];
  const byText = [];
  for (const node of nodes()) {
    if (!node || typeof node.id !== "string") continue;
    if (node.id.toLowerCase().includes(q)) byId.push(node.id);
    else if (texts(node, []).some((t) => t.toLowerCase().includes(q))) byText.push(node.id);
  }
  return byId.concat(byText).slice(0, MAX_RESULTS);
}

export function jumpTo(id) {
  select(id);
  const box = $("diagram");
  const g = box.querySelector(`g[id="node-${CSS.escape(id)}"]`);
  if (!g) return;
  const node = g.getBoundingClientRect();
  const view = box.getBoundingClientRect();
  box.scrollLeft += node.left + node.width / 2 - (view.left + view.width / 2);
  box.scrollTop += node.top + node.height / 2 - (view.top + view.height / 2);
}

function showResults(ids) {
  const list = $("search-results");
  list.replaceChildren(...ids.map((id) => el("li", {},
    el("button", { type: "button", className: "link mono", dataset: { node: id }, text: id,
      onclick: () => { jumpTo(id); list.replaceChildren(); } }))));
  const query = $("node-search").value.trim();
  if (query && !ids.length) list.append(el("li", { className: "muted", text: "No node matches." }));
}

export function initSearch() {
  const box = $("node-search");
  box.addEventListener("input", () => showResults(findNodes(box.value)));
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = findNodes(box.value)[0];
      if (first) { jumpTo(first); $("search-results").replaceChildren(); }
    } else if (e.key === "Escape") {
      box.value = "";
      $("search-results").replaceChildren();
    }
  });
}
