// Saving drafts, publishing, and the list of transcript tests.

import { $, S, data } from "./state.js";
import { api, el, status } from "./util.js";
import { isDirty, updateDirty } from "./document.js";
import { applyCheck } from "./checks.js";

export async function save(note) {
  status("Saving…");
  const result = await api(data.urls.save, { document: S.doc, note: note || $("save-note").value });
  if (!result.ok) {
    status(result.json.error || "Saving failed.", "error");
    if (result.json.problems) applyCheck(result.json);
    return null;
  }
  S.savedText = JSON.stringify(S.doc);
  S.version = S.latest = result.json.version;
  $("save-note").value = "";
  $("badge-version").textContent = `v${S.version}`;
  updateDirty();
  const errors = result.json.errors;
  status(result.json.message + (errors ? ` It has ${errors} error${errors === 1 ? "" : "s"}: fix them before publishing.` : ""), errors ? "warn" : "ok");
  return result.json.version;
}

export async function publish() {
  if (S.errors > 0) {
    status(`Fix the ${S.errors} error${S.errors === 1 ? "" : "s"} first: a topic with errors can be saved as a draft but not published.`, "error");
    $("problems-panel").scrollIntoView({ block: "nearest" });
    return;
  }
  let version = S.version;
  if (isDirty() || S.version !== S.latest) {
    version = await save($("save-note").value || "published");
    if (!version) return;
  }
  status("Publishing…");
  const result = await api(data.urls.publish, { version });
  if (!result.ok) {
    status(result.json.error || "Publishing failed.", "error");
    if (result.json.problems) applyCheck(result.json);
    return;
  }
  S.published = version;
  const badge = $("badge-published");
  badge.textContent = `published v${version}`;
  badge.className = "badge published";
  status(result.json.message, "ok");
}

// ------------------------------------------------------------------ transcripts

export function renderTranscripts() {
  const list = $("transcript-list");
  list.replaceChildren();
  if (!data.transcripts.length) {
    list.append(el("li", { className: "muted", text: "None yet: chat in the simulator (▶ Try it), then “Save as test”." }));
    return;
  }
  for (const t of data.transcripts) {
    list.append(el("li", {},
      el("a", { href: data.urls.transcript_download.replace(/0\.json$/, `${t.id}.json`), download: "", text: t.name }),
      el("span", { className: "muted", text: ` · ${t.author || ""} ${String(t.created_at || "").slice(0, 16).replace("T", " ")}` })));
  }
}
