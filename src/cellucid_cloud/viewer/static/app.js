// The viewer page at /e/<id>/: ask the meta API what this URL shows, then either open the
// dataset's export or explain why not (withdrawn, unknown, not ready yet). The meta API is asked
// about the page's address without its query: the query holds the view and, for a registered
// viewer, its credentials, which are no business of the public lookup.

import { EventChannel } from "./events.js";
import { renderAbout } from "./panels.js";
import { PointRenderer } from "./renderer.js";
import { HttpError, collectionPage, el, formatNumber, getJson, mailtoHref, webHref } from "./site.js";
import { readView, viewerCredentials } from "./view-url.js";
import { DecodeWorker, Progress, Viewer } from "./viewer.js";

const $ = (selector) => document.querySelector(selector);

function collectionUrl(collectionId) {
  return `/dp/v1/collections/${encodeURIComponent(collectionId)}`;
}

function say(text, isError = false) {
  const message = $(".status .message");
  message.textContent = text;
  message.classList.toggle("error", isError);
  clearTimeout(say.timer);
  say.timer = setTimeout(() => {
    message.textContent = "";
  }, isError ? 10000 : 4000);
}

function showMessage(state, title, ...paragraphs) {
  document.body.dataset.state = state;
  document.title = `${title} — Cellucid`;
  $(".stage").hidden = true;
  $(".topbar").hidden = true;
  const main = $("main.message");
  main.replaceChildren(el("h1", {}, title), ...paragraphs.map((parts) => el("p", {}, ...parts)));
  main.hidden = false;
}

// "The collection: <its name, linked to its page>." (ids are no text for people; a private
// version's id is its capability besides).
async function collectionLine(meta) {
  const collection = await getJson(collectionUrl(meta.collection_id)).catch(() => null);
  const link = el("a", { href: collectionPage(meta.collection_id), class: "collection-link" }, collection?.name ?? "its page");
  return ["The collection: ", link, "."];
}

async function showWithdrawn(meta) {
  const contact = meta.contact ?? {};
  const mailto = mailtoHref(contact.email);
  const contactParts = mailto
    ? [`Questions about it: ${contact.name || contact.email}, `, el("a", { href: mailto, class: "contact-email" }, contact.email), "."]
    : [contact.name ? `Questions about it: ${contact.name}.` : "No contact was recorded."];
  showMessage(
    "withdrawn",
    "This dataset was withdrawn",
    ["Its curators removed it from its collection; the data is no longer shown here."],
    contactParts,
    await collectionLine(meta),
  );
}

function showNotFound() {
  showMessage(
    "not-found",
    "Dataset not found",
    ["No dataset is published at this address. Check the link, or ask whoever shared it for a current one."],
  );
}

// No export to show: a failed version says why; one still on its way is watched, and the page
// opens it (reloads) once the meta answer changes.
async function showNotReady(meta, metaUrl) {
  const collection = await collectionLine(meta);
  if (meta.status === "failed") {
    showMessage(
      "failed",
      "This dataset could not be processed",
      ["Processing its file failed: ", el("span", { class: "reason" }, meta.reason || "no reason was recorded"), "."],
      ["Its curators can upload a corrected file; this address will then show it."],
      collection,
    );
    return;
  }
  showMessage(
    "processing",
    "This dataset is not ready yet",
    ["It is still being processed. This page opens it by itself once it is ready."],
    collection,
  );
  watchUntilChanged(metaUrl, meta, 2000);
}

function watchUntilChanged(metaUrl, meta, delay) {
  setTimeout(async () => {
    const now = await getJson(metaUrl).catch(() => meta);
    if (now.status !== meta.status || now.export_url || now.tombstoned) location.reload();
    else watchUntilChanged(metaUrl, meta, Math.min(delay * 1.5, 30000));
  }, delay);
}

function about(content) {
  const button = $("#about");
  const panel = $(".about-panel");
  const toggle = (open) => {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  renderAbout(panel, { ...content, onClose: () => toggle(false) });
  button.addEventListener("click", () => toggle(panel.hidden));
}

function showError(error) {
  console.error(error);
  showMessage("error", "The viewer could not open this dataset", [String(error.message ?? error)]);
}

// Collection name (linked to its page) › dataset name, with a menu of the collection's other
// datasets; then the About panel, which needs the collection too.
async function breadcrumb(meta, identity) {
  $(".dataset-name").textContent = identity.name;
  const isPrivate = meta.collection_visibility === "PRIVATE";
  if (isPrivate) $(".private-badge").hidden = false;
  const collection = await getJson(collectionUrl(meta.collection_id)).catch(() => null);
  const entry = collection?.datasets.find((d) => d.dataset_id === meta.dataset_id) ?? null;
  about({ identity, collection, collectionId: meta.collection_id, entry, isPrivate });
  if (!collection) return;
  const link = $(".crumb-collection");
  link.textContent = collection.name;
  link.href = collectionPage(meta.collection_id);
  link.hidden = false;
  $(".crumb-sep").hidden = false;
  const items = collection.datasets
    .filter((d) => d.export_url && webHref(d.explorer_url))
    .map((d) => {
      const current = d.dataset_id === meta.dataset_id;
      const a = el("a", { href: webHref(d.explorer_url) }, d.name, el("span", { class: "cells" }, ` ${formatNumber(d.n_cells)} cells`));
      if (current) a.setAttribute("aria-current", "page");
      return el("li", {}, a);
    });
  $(".dataset-menu").replaceChildren(...items);
}

async function main() {
  const ui = {
    canvas: $("#plot"),
    controls: $(".controls"),
    embedding: $("#embedding"),
    colorField: $("#color-field"),
    gene: $("#gene"),
    geneOptions: $("#gene-options"),
    lasso: $("#lasso"),
    reset: $("#reset"),
    save: $("#save-session"),
    copyLink: $("#copy-link"),
    menuToggle: $(".menu-toggle"),
    selectionPanel: $(".selection-panel"),
    legend: $(".legend"),
    tooltip: $(".tooltip"),
    loading: $(".loading"),
    lassoPath: $(".lasso-path"),
    selectionCount: $(".status .selection-count"),
    clearSelection: $(".status .clear-selection"),
  };
  const progress = new Progress(ui.loading);
  progress.message("Resolving this link…");
  const metaUrl = `/dp/v1/datasets/meta?url=${encodeURIComponent(`${location.origin}${location.pathname}`)}`;
  const resolving = fetch(metaUrl);
  // While the link resolves: start the decode worker, and create the WebGL context and compile
  // the shaders (which blocks this thread for up to a few hundred ms in software GL).
  const worker = new DecodeWorker();
  let renderer = null;
  let noWebGl = null;
  try {
    renderer = new PointRenderer(ui.canvas);
  } catch (error) {
    noWebGl = error;
  }
  const response = await resolving;
  if (response.status === 404) return showNotFound();
  if (!response.ok) throw new HttpError("the meta API", response.status);
  const meta = await response.json();
  if (meta.tombstoned) return showWithdrawn(meta);
  if (!meta.export_url) return showNotReady(meta, metaUrl);
  if (noWebGl) throw noWebGl;

  const exportUrl = meta.export_url.endsWith("/") ? meta.export_url : `${meta.export_url}/`;
  document.body.dataset.exportUrl = exportUrl;
  progress.message("Loading the dataset's description…");
  const file = (name) => new URL(name, exportUrl).href;
  const [identity, obsManifest, varManifest] = await Promise.all([
    getJson(file("dataset_identity.json")),
    getJson(file("obs_manifest.json"), { optional: true }),
    getJson(file("var_manifest.json"), { optional: true }),
  ]);
  document.title = `${identity.name} — Cellucid`;
  breadcrumb(meta, identity).catch((error) => console.warn("breadcrumb:", error));
  const params = new URLSearchParams(location.search);
  const credentials = new URLSearchParams(viewerCredentials(params) ?? {});
  const channel = new EventChannel(credentials, (error) => say(`Not delivered: ${error.message}`, true));
  const viewer = new Viewer({
    identity, obsManifest, varManifest, exportUrl, worker, renderer, channel, progress, say, ui,
  });
  await viewer.start(readView(params));
}

main().catch(showError);
