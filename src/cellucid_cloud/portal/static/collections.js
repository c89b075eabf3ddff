// The index at / and /collections: every public collection, newest first, with a search over
// names and descriptions (?q= keeps the search in the address, so it can be shared).

import { collectionPage, el, formatNumber, getJson } from "/viewer/site.js";

const $ = (selector) => document.querySelector(selector);
const TERMS_SHOWN = 6;

function plural(count, one, many) {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

// The organisms and tissues of its datasets (CELLxGENE schema terms), when there are any.
function terms(collection) {
  const labels = ["organism", "tissue"].flatMap((field) => (collection[field] ?? []).map((term) => term.label)).filter(Boolean);
  if (!labels.length) return null;
  return el("p", { class: "terms" }, labels.slice(0, TERMS_SHOWN).join(" · ") + (labels.length > TERMS_SHOWN ? " …" : ""));
}

function card(collection) {
  return el(
    "li",
    { class: "collection-card", "data-id": collection.id },
    el("h2", {}, el("a", { href: collectionPage(collection.id) }, collection.name)),
    collection.description ? el("p", { class: "description" }, collection.description) : null,
    terms(collection),
    el(
      "p",
      { class: "counts" },
      `${plural(collection.dataset_count, "dataset", "datasets")} · ${plural(collection.cell_count, "cell", "cells")}`,
    ),
  );
}

// Every word of the query must appear in the name or the description (case-insensitive).
function matcher(query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return (collection) => {
    const text = `${collection.name}\n${collection.description ?? ""}`.toLowerCase();
    return words.every((word) => text.includes(word));
  };
}

function newestFirst(a, b) {
  return String(b.published_at ?? "").localeCompare(String(a.published_at ?? ""));
}

async function main() {
  const { collections } = await getJson("/dp/v1/collections");
  collections.sort(newestFirst);
  const cards = collections.map((collection) => ({ collection, node: card(collection) }));
  $(".collection-list").replaceChildren(...cards.map((c) => c.node));
  const search = $("#search");
  const show = () => {
    const query = search.value.trim();
    const matches = matcher(query);
    let shown = 0;
    for (const { collection, node } of cards) {
      node.hidden = !matches(collection);
      if (!node.hidden) shown++;
    }
    const total = collections.length;
    $(".summary").textContent = query ? `${shown} of ${plural(total, "collection", "collections")}` : plural(total, "collection", "collections");
    const empty = $(".empty");
    empty.hidden = shown > 0;
    empty.textContent = total === 0 ? "No collection has been published yet." : `No collection matches “${query}”.`;
    const url = new URL(location.href);
    if (query) url.searchParams.set("q", query);
    else url.searchParams.delete("q");
    history.replaceState(null, "", url);
  };
  search.value = new URLSearchParams(location.search).get("q") ?? "";
  search.addEventListener("input", show);
  show();
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  console.error(error);
  document.body.dataset.state = "error";
  const empty = $(".empty");
  empty.textContent = `The collections could not be loaded: ${error.message ?? error}`;
  empty.hidden = false;
});
