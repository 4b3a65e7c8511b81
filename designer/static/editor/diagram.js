// The diagram: draws the server's SVG, marks the selected and current nodes, zooms.

import { $, S } from "./state.js";

export function drawDiagram(svgText) {
  const box = $("diagram");
  const scroll = [box.scrollLeft, box.scrollTop];
  const svg = Parley.insertSvg(box, svgText);
  if (!svg) return;
  if (S.zoom === undefined) S.zoom = null;  // a diagram opens fitted to its panel
  Parley.zoomSvg(svg, S.zoom);
  [box.scrollLeft, box.scrollTop] = scroll;
  markDiagram();
}

export function markDiagram() {
  const svg = $("diagram").querySelector("svg");
  if (!svg) return;
  svg.querySelectorAll('g[id^="node-"]').forEach((g) => {
    const id = g.id.startsWith("node-") ? g.id.slice(5) : null;
    g.classList.toggle("selected", id !== null && id === S.selected);
    g.classList.toggle("current", id !== null && id === S.current);
    g.classList.toggle("visited", id !== null && S.visited.includes(id) && id !== S.current);
  });
}

export function zoomBy(factor) {
  const svg = $("diagram").querySelector("svg");
  if (!svg) return;
  if (S.zoom === null || S.zoom === undefined) S.zoom = svg.getBoundingClientRect().width / Number(svg.dataset.naturalWidth);
  S.zoom = Math.min(4, Math.max(0.1, S.zoom * factor));
  Parley.zoomSvg(svg, S.zoom);
}
