// The JSON tab: shows the document and follows what the author types.

import { $, S, data } from "./state.js";
import { api, debounce, nodeIndex } from "./util.js";
import { updateDirty } from "./document.js";
import { defaultText } from "./widgets.js";
import { renderNodeList } from "./forms.js";
import { applyCheck } from "./checks.js";
import { record } from "./history.js";

export function showJson() {
  const area = $("json-text");
  if (document.activeElement !== area) area.value = JSON.stringify(S.doc, null, 2);
}

export const checkJson = debounce(async () => {
  const seq = ++S.seq;
  const result = await api(data.urls.check, { text: $("json-text").value });
  if (seq !== S.seq) return;
  const state = $("json-state");
  if (result.json.document) {
    S.doc = result.json.document;
    record($("json-text"));
    state.textContent = "The JSON parses; forms and diagram follow it.";
    state.className = "json-state ok";
    if (S.selected && nodeIndex(S.selected) < 0) S.selected = null;
    updateDirty();
    $("topic-title").textContent = defaultText(S.doc.name) || data.topic_id;
    renderNodeList();
  } else {
    const first = (result.json.problems || [])[0];
    state.textContent = first ? `${first.path}: ${first.message}` : "The JSON does not parse.";
    state.className = "json-state error";
  }
  applyCheck(result.json);
}, 400);
