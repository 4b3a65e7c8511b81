// Zoom and pan: Ctrl+wheel (or a pinch) zooms about the pointer, the wheel scrolls, a drag on
// the background pans (drag.js), + - 0 and the arrow keys do the same from the keyboard.

import { $, S } from "../state.js";

const MIN = 0.1;
const MAX = 4;

function drawing() { return $("diagram").querySelector("svg"); }

export function currentZoom() {
  const svg = drawing();
  if (!svg) return 1;
  return S.zoom === null || S.zoom === undefined
    ? svg.getBoundingClientRect().width / Number(svg.dataset.naturalWidth) : S.zoom;
}

// Zooms by `factor`, keeping the drawing's point under (clientX, clientY) in place (the
// panel's centre by default).
export function zoomAt(factor, clientX, clientY) {
  const svg = drawing();
  if (!svg) return;
  const box = $("diagram");
  const view = box.getBoundingClientRect();
  const x = clientX === undefined ? view.left + view.width / 2 : clientX;
  const y = clientY === undefined ? view.top + view.height / 2 : clientY;
  const before = svg.getBoundingClientRect();
  const fx = (x - before.left) / before.width;
  const fy = (y - before.top) / before.height;
  S.zoom = Math.min(MAX, Math.max(MIN, currentZoom() * factor));
  Parley.zoomSvg(svg, S.zoom);
  const after = svg.getBoundingClientRect();
  box.scrollLeft += after.left + fx * after.width - x;
  box.scrollTop += after.top + fy * after.height - y;
}

export function fit() {
  S.zoom = null;
  Parley.zoomSvg(drawing(), null);
}

export function pan(dx, dy) {
  const box = $("diagram");
  box.scrollLeft += dx;
  box.scrollTop += dy;
}

export function initZoom() {
  $("diagram").addEventListener("wheel", (e) => {
    if (!e.ctrlKey && !e.metaKey) return;  // a plain wheel scrolls the panel
    e.preventDefault();
    zoomAt(Math.exp(-e.deltaY / 300), e.clientX, e.clientY);
  }, { passive: false });
}
