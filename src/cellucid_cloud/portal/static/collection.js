// A collection's page at /collections/<id>: its description, contact and links, and a table of
// its datasets to explore or download. The id is the public collection id (the published
// version) or a private version id (a revision, shown with a "private" banner); the API answers
// 404 for anything else, and the page then shows nothing but "not found".
// ?tombstoned_dataset_id=<id> (where the cellxgene explorer sends a visitor of a withdrawn
// dataset) adds a notice that the dataset was withdrawn, with the contact, once the meta API
// confirms it.

import { HttpError, el, formatBytes, formatNumber, getJson, mailtoHref, webHref } from "/viewer/site.js";

const $ = (selector) => document.querySelector(selector);

// CELLxGENE schema columns shown when any dataset of the collection has them.
const SCHEMA_COLUMNS = [
  ["organism", "Organism"],
  ["tissue", "Tissue"],
  ["assay", "Assay"],
  ["disease", "Disease"],
];
const LINK_TYPES = {
  DOI: "DOI",
  RAW_DATA: "Raw data",
  PROTOCOL: "Protocol",
  LAB_WEBSITE: "Lab website",
  DATA_SOURCE: "Data source",
  OTHER: "Link",
};

function contact(name, email) {
  const href = mailtoHref(email);
  if (!href) return name || "none recorded";
  return el("a", { href, class: "contact-email" }, name || email);
}

function links(collection) {
  const items = (collection.links ?? [])
    .map((link) => {
      const href = webHref(link.url);
      if (!href) return null;
      const label = link.name || LINK_TYPES[link.type] || new URL(href).host;
      return el("li", {}, el("a", { href, rel: "noopener", class: "collection-link" }, label));
    })
    .filter(Boolean);
  return items.length ? el("ul", {}, ...items) : null;
}

function facts(collection) {
  const rows = [
    ["Contact", contact(collection.contact_name, collection.contact_email)],
    ["Links", links(collection)],
    ["Published", collection.published_at?.slice(0, 10)],
    ["Revised", collection.revised_at?.slice(0, 10)],
  ];
  return rows.filter(([, value]) => value).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]);
}

// A schema field's labels ("Homo sapiens, Mus musculus"): strings, or {label} objects.
function labels(values) {
  if (!Array.isArray(values)) return "";
  return values.map((value) => (typeof value === "object" && value ? value.label : value)).filter(Boolean).join(", ");
}

function explorePath(dataset) {
  const href = webHref(dataset.explorer_url);
  return href ? new URL(href).pathname : null;
}

// Explore and Download for a ready dataset; its state otherwise (only in a private revision).
function actions(dataset) {
  if (dataset.status !== "ready") {
    return [el("span", { class: "status" }, dataset.status === "failed" ? "failed" : "still processing")];
  }
  const explore = explorePath(dataset);
  const download = dataset.download;
  const href = download && webHref(download.url);
  const size = download?.size_bytes ? ` (${formatBytes(download.size_bytes)})` : "";
  return [
    explore ? el("a", { href: explore, class: "explore" }, "Explore") : null,
    href
      ? el("a", { href, class: "download", download: download.file_name ?? "", title: download.file_name }, "Download", el("span", { class: "size" }, size))
      : null,
  ];
}

function datasetTable(datasets) {
  const columns = SCHEMA_COLUMNS.filter(([key]) => datasets.some((d) => labels(d[key])));
  $(".datasets thead").replaceChildren(
    el(
      "tr",
      {},
      el("th", { scope: "col" }, "Dataset"),
      el("th", { scope: "col", class: "number" }, "Cells"),
      el("th", { scope: "col", class: "number" }, "Genes"),
      ...columns.map(([, title]) => el("th", { scope: "col" }, title)),
      el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Explore or download")),
    ),
  );
  const rows = datasets.map((dataset) => {
    return el(
      "tr",
      { "data-dataset-id": dataset.id },
      el("td", { class: "name" }, dataset.name),
      el("td", { class: "number", "data-label": "Cells" }, formatNumber(dataset.n_cells)),
      el("td", { class: "number", "data-label": "Genes" }, formatNumber(dataset.n_genes)),
      ...columns.map(([key, title]) => {
        const text = labels(dataset[key]);
        return el("td", { "data-label": title, class: text ? key : `${key} none` }, text || "–");
      }),
      el("td", { class: "actions" }, ...actions(dataset)),
    );
  });
  $(".datasets tbody").replaceChildren(...rows);
}

// The withdrawn notice, only for a dataset the meta API says was withdrawn from this collection.
async function withdrawnNotice(datasetId, collection) {
  const url = `${location.origin}/e/${encodeURIComponent(datasetId)}/`;
  const meta = await getJson(`/dp/v1/datasets/meta?url=${encodeURIComponent(url)}`, { optional: true });
  if (!meta?.tombstoned || meta.collection_id !== collection.id) return;
  const name = meta.contact?.name ?? collection.contact_name;
  const email = meta.contact?.email ?? collection.contact_email;
  $(".withdrawn-notice").replaceChildren(
    el("h2", {}, "This dataset was withdrawn"),
    el(
      "p",
      {},
      "The dataset you followed a link to (",
      el("code", { class: "dataset-id" }, datasetId),
      ") was withdrawn from this collection by its curators and is no longer available.",
    ),
    el("p", {}, "Questions about it: ", contact(name, email), "."),
  );
  $(".withdrawn-notice").hidden = false;
  document.body.dataset.withdrawn = datasetId;
}

function showCollection(collection) {
  const isPrivate = collection.visibility === "PRIVATE";
  document.title = `${collection.name}${isPrivate ? " (private)" : ""} — Cellucid`;
  $(".private-banner").hidden = !isPrivate;
  $(".collection-name").textContent = collection.name;
  $(".collection-description").textContent = collection.description ?? "";
  $(".collection-facts").replaceChildren(...facts(collection));
  datasetTable(collection.datasets);
  $(".collection").hidden = false;
}

async function main() {
  const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
  let collection;
  try {
    collection = await getJson(`/dp/v1/collections/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof HttpError && [404, 422].includes(error.status))) throw error;
    document.title = "Collection not found — Cellucid";
    $(".not-found").hidden = false;
    document.body.dataset.state = "not-found";
    return;
  }
  showCollection(collection);
  const withdrawn = new URLSearchParams(location.search).get("tombstoned_dataset_id");
  if (withdrawn) await withdrawnNotice(withdrawn, collection);
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  console.error(error);
  document.body.dataset.state = "error";
  const notice = $(".not-found");
  notice.replaceChildren(el("h1", {}, "This collection could not be loaded"), el("p", {}, String(error.message ?? error)));
  notice.hidden = false;
});
