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

Parley.zoomSvg = function (svg, zoom) {
  if (!svg) return;
  if (zoom === null) {
    // Fit the panel, but never blow a small drawing up beyond its natural size.
    svg.style.width = "100%";
    svg.style.height = "auto";
    svg.style.maxWidth = svg.dataset.naturalWidth + "px";
    return;
  }
  svg.style.maxWidth = "none";
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
