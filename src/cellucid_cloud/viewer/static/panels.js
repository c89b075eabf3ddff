// The viewer's side panels: a foldable title (legend, selection summary), the About panel
// (the dataset's and its collection's description, contact and links) and the summary of a
// selection (cells per category of a field, a gene's mean inside vs outside).

import { categoryColor, css, MISSING } from "./colors.js";
import { collectionPage, el, formatBytes, formatNumber, mailtoHref, webHref } from "./site.js";

const TOP_CATEGORIES = 12;

// A panel's title as a button that folds the panel (the panel's "folded" class, set by
// foldOnClick, hides everything but the title; CSS).
export function panelTitle(className, text, panel) {
  const expanded = !panel.classList.contains("folded");
  return el(
    "h2",
    { class: className },
    el("button", { type: "button", class: "fold", "aria-expanded": String(expanded), title: "Fold or unfold" }, text),
  );
}

export function foldOnClick(panel) {
  panel.addEventListener("click", (event) => {
    const button = event.target.closest("button.fold");
    if (!button || !panel.contains(button)) return;
    const folded = panel.classList.toggle("folded");
    button.setAttribute("aria-expanded", String(!folded));
  });
}

function contactLine(name, email) {
  const href = mailtoHref(email);
  if (!href) return name ? el("p", {}, `Contact: ${name}`) : null;
  return el("p", {}, "Contact: ", el("a", { href, class: "contact-email" }, name || email));
}

function linkList(links) {
  const items = (links ?? [])
    .map((link) => {
      const href = webHref(link.url);
      return href ? el("li", {}, el("a", { href, rel: "noopener", target: "_blank" }, link.name || new URL(href).host)) : null;
    })
    .filter(Boolean);
  return items.length ? el("ul", { class: "links" }, ...items) : null;
}

// identity: the export's; collection: the collection document (or null) and collectionId its
// id; entry: this dataset's entry in it (or null).
export function renderAbout(panel, { identity, collection, collectionId, entry, isPrivate, onClose }) {
  const close = el("button", { type: "button", class: "close", "aria-label": "Close" }, "×");
  close.addEventListener("click", onClose);
  const stats = identity.stats ?? {};
  const download = entry?.download && webHref(entry.download.url);
  const parts = [
    el("div", { class: "panel-head" }, el("h2", {}, identity.name), close),
    isPrivate ? el("p", { class: "private-note" }, "Private revision: not published; only people with this link see it.") : null,
    identity.description ? el("p", { class: "description" }, identity.description) : null,
    el("p", { class: "facts" }, `${formatNumber(stats.n_cells)} cells · ${formatNumber(stats.n_genes)} genes`),
    download
      ? el("p", {}, el("a", { href: download, class: "download", download: entry.download.file_name ?? "" }, "Download the data"),
        entry.download.size_bytes ? ` (${formatBytes(entry.download.size_bytes)})` : "")
      : null,
  ];
  if (collection) {
    parts.push(
      el("h3", {}, "Collection: ", el("a", { href: collectionPage(collectionId), class: "collection-link" }, collection.name)),
      collection.description ? el("p", { class: "description" }, collection.description) : null,
      contactLine(collection.contact_name, collection.contact_email),
      linkList(collection.links),
    );
  }
  panel.replaceChildren(...parts.filter(Boolean));
}

// Cells of the selection per category of a decoded categorical field ({categories, slots,
// colors}), largest first: [{name, color, count}], and how many categories are not listed.
export function categoryBreakdown(selection, field) {
  const { categories, slots } = field;
  const counts = new Uint32Array(categories.length + 1);
  for (const cell of selection) counts[slots[cell]]++;
  const rows = [];
  counts.forEach((count, slot) => {
    if (!count) return;
    const missing = slot === categories.length;
    const color = missing ? MISSING : categoryColor(slot, field.colors);
    rows.push({ name: missing ? "missing" : String(categories[slot]), color, count });
  });
  rows.sort((a, b) => b.count - a.count);
  return { rows: rows.slice(0, TOP_CATEGORIES), more: Math.max(0, rows.length - TOP_CATEGORIES) };
}

// Mean of a continuous field (a gene) over the selected cells and over all the others; missing
// values (NaN) count in neither. The field's total is computed once and kept on it.
export function insideOutsideMeans(selection, field) {
  const { values } = field;
  if (field.total === undefined) {
    let sum = 0;
    let count = 0;
    for (const v of values) {
      if (!Number.isNaN(v)) {
        sum += v;
        count++;
      }
    }
    field.total = { sum, count };
  }
  let sum = 0;
  let count = 0;
  for (const cell of selection) {
    const v = values[cell];
    if (!Number.isNaN(v)) {
      sum += v;
      count++;
    }
  }
  const outsideCount = field.total.count - count;
  return {
    inside: count ? sum / count : null,
    outside: outsideCount ? (field.total.sum - sum) / outsideCount : null,
  };
}

// summary: {count, total, category: {key, rows, more} | null, means: {label, inside, outside} | null}
export function renderSelectionSummary(panel, summary) {
  const share = ((100 * summary.count) / summary.total).toFixed(summary.count * 1000 < summary.total ? 2 : 1);
  const parts = [
    panelTitle("panel-title", `Selection: ${formatNumber(summary.count)} cells (${share} %)`, panel),
  ];
  if (summary.category) {
    const { key, rows, more } = summary.category;
    const list = el(
      "ul",
      { class: "breakdown" },
      ...rows.map((row) => {
        const swatch = el("span", { class: "swatch" });
        swatch.style.background = css(row.color);
        return el("li", {}, swatch, el("span", { class: "name" }, row.name), el("span", { class: "count" }, formatNumber(row.count)));
      }),
    );
    parts.push(el("h3", {}, `By ${key}`), list);
    if (more) parts.push(el("p", { class: "note" }, `${more} more categories`));
  }
  if (summary.means) {
    const { label, inside, outside } = summary.means;
    parts.push(
      el("h3", {}, `Mean ${label}`),
      el(
        "dl",
        { class: "means" },
        el("dt", {}, "selected"), el("dd", { class: "inside" }, formatNumber(inside)),
        el("dt", {}, "others"), el("dd", { class: "outside" }, formatNumber(outside)),
      ),
    );
  }
  panel.replaceChildren(...parts);
  panel.hidden = false;
}
