// Insert a Graphviz SVG drawing into the page the way CSP allows: parse it as XML with
// DOMParser, drop anything active (scripts, foreign objects, event attributes), import nodes.
"use strict";

window.Parley = window.Parley || {};

Parley.insertSvg = function (container, svgText) {
  const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = parsed.documentElement;
  container.replaceChildren();
  if (!svg || svg.nodeName.toLowerCase() !== "svg" || parsed.querySelector("parsererror")) {
    const p = document.createElement("p");
    p.className = "muted pad";
    p.textContent = "The diagram could not be shown.";
    container.appendChild(p);
    return null;
  }
  svg.querySelectorAll("script, foreignObject, iframe").forEach((el) => el.remove());
  svg.querySelectorAll("*").forEach((el) => {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      const value = attr.value.trim().toLowerCase();
      if (name.startsWith("on") || ((name === "href" || name === "xlink:href") &&
          value.startsWith("javascript:"))) {
        el.removeAttribute(attr.name);
      }
    }
  });
  const node = document.importNode(svg, true);
  // Keep the natural size for zooming; the viewBox does the scaling.
  const width = parseFloat(node.getAttribute("width")) || 800;
  const height = parseFloat(node.getAttribute("height")) || 600;
  node.dataset.naturalWidth = String(width * 4 / 3);
  node.dataset.naturalHeight = String(height * 4 / 3);
  node.removeAttribute("width");
  node.removeAttribute("height");
  container.appendChild(node);
  return node;
};

// The zoom at which the whole drawing fits its panel (width and height), never above its
// natural size, and not below a size where labels can still be read.
Parley.MIN_FIT = 0.2;
Parley.fitZoom = function (svg) {
  const box = svg.parentElement;
  const style = getComputedStyle(box);
  const maxHeight = parseFloat(style.maxHeight);
  const width = box.clientWidth - 16;
  // A panel with a height of its own (the editor's) is filled; one that grows with its
  // drawing up to a max-height (the diff page's) is filled up to that height.
  const height = (Number.isFinite(maxHeight) ? maxHeight : box.clientHeight) - 16;
  const byWidth = width / Number(svg.dataset.naturalWidth);
  const byHeight = height > 0 ? height / Number(svg.dataset.naturalHeight) : byWidth;
  return Math.max(Parley.MIN_FIT, Math.min(1, byWidth, byHeight));
};

Parley.zoomSvg = function (svg, zoom) {
  if (!svg) return;
  svg.style.maxWidth = "none";
  if (zoom === null) zoom = Parley.fitZoom(svg);
  svg.style.width = Math.round(Number(svg.dataset.naturalWidth) * zoom) + "px";
  svg.style.height = Math.round(Number(svg.dataset.naturalHeight) * zoom) + "px";
};

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-svg-source]").forEach((container) => {
    const source = document.getElementById(container.dataset.svgSource);
    if (!source) return;
    const svg = Parley.insertSvg(container, JSON.parse(source.textContent));
    Parley.zoomSvg(svg, null);
  });
});
