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

export function drawPorts(root, id) {
  root.querySelectorAll(".exit-ports").forEach((g) => g.remove());
  const g = id && root.querySelector(`g[id="node-${CSS.escape(id)}"]`);
  if (!g || S.mode) return;
  const exits = exitsOf(nodes()[nodeIndex(id)]);
  if (!exits.length) return;
  const box = g.getBBox();
  const labels = exits.map((e) => (e.label.length > 18 ? e.label.slice(0, 17) + "…" : e.label));
  const widest = Math.max(...labels.map((l) => 14 + l.length * 5.2));
  // Beside the node on the right, or on its left when the panel has no room on the right.
  const scale = g.getBoundingClientRect().width / (box.width || 1);
  const room = $("diagram").getBoundingClientRect().right - g.getBoundingClientRect().right;
  const right = room > (widest + 10) * scale;
  const holder = make("g", { class: "exit-ports", "aria-hidden": "true" });
  exits.forEach((exit, i) => {
    const label = labels[i];
    const width = 14 + label.length * 5.2;
    const x = right ? box.x + box.width + 6 : box.x - width - 6;
    const y = box.y + i * ROW;
    const port = make("g", { class: "exit-port" + (exit.target ? " linked" : ""), "data-exit": pathText(exit.path),
      "data-node": id, transform: `translate(${x},${y})` });
    port.append(make("title", {}, `${exit.label}${exit.target ? ` → ${exit.target}` : " (not linked)"}: drag to a node`));
    port.append(make("rect", { x: 0, y: 0, width, height: ROW - 2, rx: 5 }));
    port.append(make("circle", { cx: 6, cy: (ROW - 2) / 2, r: 2.5 }));
    port.append(make("text", { x: 11, y: ROW - 5 }, label));
    holder.append(port);
  });
  g.parentNode.append(holder);
}
