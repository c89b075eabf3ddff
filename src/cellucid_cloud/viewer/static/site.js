// What every page of the site shares (the viewer and the portal's pages):
// safe DOM building, JSON reads, number formatting. Catalog text (names, descriptions, contacts,
// links) is stored as curators typed it, so it only ever enters the page as text nodes and
// attribute values, never as HTML; links are kept only when they are http(s) or mailto.

import { HttpError } from "./data.js";

export { HttpError };

export async function getJson(url, { optional = false } = {}) {
  const response = await fetch(url);
  if (optional && response.status === 404) return null;
  if (!response.ok) throw new HttpError(url, response.status);
  return response.json();
}

// An element with attributes (set as attribute values) and children (strings become text).
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// The URL as an href if it is http(s) (absolute, or relative to this page), else null: a stored
// "javascript:" or "data:" link must never become clickable.
export function webHref(url) {
  try {
    const parsed = new URL(String(url), location.href);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

export function mailtoHref(email) {
  const address = String(email ?? "").trim();
  return /^[^\s@/?#:]+@[^\s@/?#]+$/.test(address) ? `mailto:${address}` : null;
}

// Where the public pages of a collection and a dataset live.
export function collectionPage(collectionId, query = {}) {
  const search = new URLSearchParams(query).toString();
  return `/collections/${encodeURIComponent(collectionId)}${search ? `?${search}` : ""}`;
}

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString("en-US");
  return Number(value.toPrecision(4)).toString();
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
