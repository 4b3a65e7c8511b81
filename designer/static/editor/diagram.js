// The diagram: draws the server's SVG and marks the selected and current nodes; the canvas
// modules (canvas/) make it editable.

import { $, S } from "./state.js";
import { decorate } from "./canvas/index.js";

export function drawDiagram(svgText) {
  const box = $("diagram");
  const scroll = [box.scrollLeft, box.scrollTop];
  // Keyboard focus on a node survives the redraw: it moves to the same node in the new drawing.
  const focused = box.contains(document.activeElement) && document.activeElement !== box;
  const svg = Parley.insertSvg(box, svgText);
  if (!svg) return;
  if (S.zoom === undefined) S.zoom = null;  // a diagram opens fitted to its panel
  Parley.zoomSvg(svg, S.zoom);
  [box.scrollLeft, box.scrollTop] = scroll;
  markDiagram();
  if (focused) {
    const target = svg.querySelector('g[id^="node-"][tabindex="0"]') || box;
    target.focus({ preventScroll: true });
  }
}

export function markDiagram() {
  const svg = $("diagram").querySelector("svg");
  if (!svg) return;
  if (S.selected !== null && !(Array.isArray(S.doc.nodes) && S.doc.nodes.some((n) => n && n.id === S.selected))) S.selected = null;
  svg.querySelectorAll('g[id^="node-"]').forEach((g) => {
    const id = g.id.slice(5);
    g.classList.toggle("current", id === S.current);
    g.classList.toggle("visited", S.visited.includes(id) && id !== S.current);
  });
  decorate(svg);
}
