// The legend panel: categories with their colours and counts (click to hide or show), or the
// colour bar of a continuous field or gene with its bounds and the missing-value grey. Its
// title folds it (panels.js).

import { MISSING, categoryColor, css, rampGradient } from "./colors.js";
import { panelTitle } from "./panels.js";
import { formatNumber } from "./site.js";

const MAX_ROWS = 1000;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function swatch(rgb) {
  const node = element("span", "swatch");
  node.style.background = css(rgb);
  return node;
}

function missingRow(count) {
  const row = element("div", "legend-missing");
  row.append(swatch(MISSING), element("span", "name", "missing"), element("span", "count", formatNumber(count)));
  return row;
}

// categories: names; counts[slot] (last slot = missing); hidden: Set of slots; onToggle(slot);
// colors: the file's own colours per category, or null.
export function renderCategories(panel, title, categories, counts, hidden, onToggle, colors = null) {
  const list = element("ul", "legend-list");
  const slots = categories.map((_, i) => i);
  if (counts[categories.length] > 0) slots.push(categories.length);
  const shown = slots.length > MAX_ROWS
    ? [...slots].sort((a, b) => counts[b] - counts[a]).slice(0, MAX_ROWS).sort((a, b) => a - b)
    : slots;
  for (const slot of shown) {
    const isMissing = slot === categories.length;
    const button = element("button", "legend-item");
    button.type = "button";
    button.dataset.slot = String(slot);
    button.setAttribute("aria-pressed", String(!hidden.has(slot)));
    button.title = "Click to hide or show";
    button.append(
      swatch(isMissing ? MISSING : categoryColor(slot, colors)),
      element("span", "name", isMissing ? "missing" : String(categories[slot])),
      element("span", "count", formatNumber(counts[slot])),
    );
    button.addEventListener("click", () => onToggle(slot));
    const li = element("li");
    li.append(button);
    list.append(li);
  }
  const parts = [panelTitle("legend-title", title, panel), list];
  if (shown.length < slots.length) {
    parts.push(element("p", "legend-note", `${slots.length - shown.length} smaller categories not listed`));
  }
  if (hidden.size) {
    const showAll = element("button", "legend-show-all", "Show all");
    showAll.type = "button";
    showAll.addEventListener("click", () => onToggle(null));
    parts.push(showAll);
  }
  panel.replaceChildren(...parts);
  panel.hidden = false;
}

export function renderColorBar(panel, title, min, max, missing) {
  const bar = element("div", "colorbar");
  bar.dataset.min = String(min);
  bar.dataset.max = String(max);
  const ramp = element("div", "ramp");
  ramp.style.background = rampGradient();
  const labels = element("div", "labels");
  labels.append(element("span", "min", formatNumber(min)), element("span", "max", formatNumber(max)));
  bar.append(ramp, labels);
  const parts = [panelTitle("legend-title", title, panel), bar];
  if (missing > 0) parts.push(missingRow(missing));
  panel.replaceChildren(...parts);
  panel.hidden = false;
}
