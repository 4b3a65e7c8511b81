// Small helpers for plain forms: suggest an id from a name as the author types.
"use strict";

function slugify(name) {
  let slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  if (slug && !/^[a-z]/.test(slug)) slug = "topic_" + slug;
  return slug.slice(0, 64);
}

document.querySelectorAll("[data-slug-target]").forEach((input) => {
  const target = document.getElementById(input.dataset.slugTarget);
  if (!target) return;
  let touched = target.value !== "";
  target.addEventListener("input", () => { touched = target.value !== ""; });
  input.addEventListener("input", () => {
    if (!touched) target.value = slugify(input.value);
  });
});
