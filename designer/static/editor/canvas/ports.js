// Exit handles: beside the selected node, one small tab per way out (each choice, yes and
// no, otherwise, next, max attempts...). Dragging from one connects that exit; the tabs are
// drawn into the diagram's SVG so that they zoom and scroll with it.

import { $, S } from "../state.js";
import { nodeIndex, nodes } from "../util.js";
import { exitsOf, pathText } from "./exits.js";

const NS = "http://www.w3.org/2000/svg";
const ROW = 13;

function make(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

// Tabs stand in columns beside the node, each column at most as tall as the node (and at
// least MIN_ROWS): a node with a dozen choices gets a compact block of tabs beside it rather
// than a long list running down over the nodes below.
const MIN_ROWS = 3;
const GAP = 3;

function tabWidth(label) { return 14 + label.length * 5.2; }

export function drawPorts(root, id) {
  root.querySelectorAll(".exit-ports").forEach((g) => g.remove());
  const g = id && root.querySelector(`g[id="node-${CSS.escape(id)}"]`);
  if (!g || S.mode) return;
  const exits = exitsOf(nodes()[nodeIndex(id)]);
  if (!exits.length) return;
  const box = g.getBBox();
  const rows = Math.max(MIN_ROWS, Math.floor((box.height + 2) / ROW));
  const limit = exits.length > rows * 2 ? 12 : 18;  // shorter labels when there are many
  const labels = exits.map((e) => (e.label.length > limit ? e.label.slice(0, limit - 1) + "…" : e.label));
  const columns = [];
  for (let i = 0; i < labels.length; i += rows) columns.push(labels.slice(i, i + rows));
  const widths = columns.map((column) => Math.max(...column.map(tabWidth)));
  const total = widths.reduce((a, b) => a + b, 0) + GAP * (columns.length - 1);
  // Beside the node on the right, or on its left when the panel has no room on the right.
  const scale = g.getBoundingClientRect().width / (box.width || 1);
  const room = $("diagram").getBoundingClientRect().right - g.getBoundingClientRect().right;
  const right = room > (total + 10) * scale;
  const top = box.y + Math.max(0, (box.height - Math.min(rows, labels.length) * ROW) / 2);
  const holder = make("g", { class: "exit-ports", "aria-hidden": "true" });
  let offset = 0;
  columns.forEach((column, c) => {
    column.forEach((label, r) => {
      const exit = exits[c * rows + r];
      const width = tabWidth(label);
      const x = right ? box.x + box.width + 6 + offset : box.x - 6 - offset - width;
      const y = top + r * ROW;
      const port = make("g", { class: "exit-port" + (exit.target ? " linked" : ""), "data-exit": pathText(exit.path),
        "data-node": id, transform: `translate(${x},${y})` });
      port.append(make("title", {}, `${exit.label}${exit.target ? ` → ${exit.target}` : " (not linked)"}: drag to a node`));
      port.append(make("rect", { x: 0, y: 0, width, height: ROW - 2, rx: 5 }));
      port.append(make("circle", { cx: 6, cy: (ROW - 2) / 2, r: 2.5 }));
      port.append(make("text", { x: 11, y: ROW - 5 }, label));
      holder.append(port);
    });
    offset += widths[c] + GAP;
  });
  g.parentNode.append(holder);
}
