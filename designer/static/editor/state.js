// Shared editor state: the page's data, the node-kind spec and the working document.


export const $ = (id) => document.getElementById(id);
export const data = JSON.parse($("editor-data").textContent);
export const spec = data.spec;
export const csrf = document.querySelector('meta[name="csrf-token"]').content;
export const NODE_REF_KEYS = ["next", "on_yes", "on_no", "otherwise", "on_max_attempts", "on_empty",
  "on_not_found"];
export const IDENT = /^[a-z][a-z0-9_]{0,63}$/;

export const S = {
  doc: data.document,
  selected: null,  // the node whose form is open
  selection: new Set(),  // more nodes selected on the diagram (Shift or Ctrl)
  edge: null,  // the SVG id of the arrow selected on the diagram
  mode: null,  // connecting by keyboard: { from, path, target }
  tab: "node",
  problems: [],
  errors: 0,
  warnings: 0,
  sms: {},  // SMS cost of each notification text, by JSON path (from the last check)
  version: data.version,
  latest: data.latest_version,
  published: data.published_version,
  savedText: JSON.stringify(data.document),
  zoom: undefined,
  current: null,
  visited: [],
  seq: 0,
  jsonEditing: false,
};
