// The view in the page's URL, so a copied link reopens the same picture (docs/viewer.md):
//   ?embedding=<id>                    the embedding shown
//   &color=obs:<key> | gene:<name> | none   what the cells are coloured by
//   &hide=<category>&hide=…            categories of that field hidden; &hide_missing=1 hides "missing"
//   &camera=x,y,zoom                   2D view (centre in normalised units, zoom factor)
//   &camera=x,y,z,yaw,pitch,distance   3D orbit (target, angles in radians, distance)
// Only what differs from the dataset's defaults is written. Viewer credentials (viewerId,
// viewerToken) are never part of it: they are read once, kept for this tab only, and removed from
// the address, so a link copied from the address bar never carries them.

const VIEW_KEYS = ["embedding", "color", "hide", "hide_missing", "camera"];
export const CREDENTIAL_KEYS = ["viewerId", "viewerToken"];
const CAMERA_DIGITS = 5;

function finiteNumbers(text) {
  if (!text) return null;
  const values = text.split(",").map(Number);
  return values.every(Number.isFinite) ? values : null;
}

export function readView(params) {
  const color = params.get("color");
  let colorBy = null;
  if (color === "none") colorBy = { kind: "none" };
  else if (color?.startsWith("obs:")) colorBy = { kind: "obs", key: color.slice(4) };
  else if (color?.startsWith("gene:")) colorBy = { kind: "gene", key: color.slice(5) };
  const camera = finiteNumbers(params.get("camera"));
  return {
    embedding: params.get("embedding"),
    color: colorBy,
    hidden: params.getAll("hide"),
    hideMissing: params.get("hide_missing") === "1",
    camera: camera && [3, 6].includes(camera.length) ? camera : null,
  };
}

// The page's URL for this view: the current address without view keys and credentials, then
// the view's keys (null or empty values are left out).
export function viewUrl(href, view) {
  const url = new URL(href);
  for (const key of [...VIEW_KEYS, ...CREDENTIAL_KEYS]) url.searchParams.delete(key);
  if (view.embedding) url.searchParams.set("embedding", view.embedding);
  if (view.color) url.searchParams.set("color", view.color);
  for (const name of view.hidden ?? []) url.searchParams.append("hide", name);
  if (view.hideMissing) url.searchParams.set("hide_missing", "1");
  if (view.camera) url.searchParams.set("camera", view.camera.map((v) => Number(v.toPrecision(CAMERA_DIGITS))).join(","));
  return url.href;
}

export function colorParam(color) {
  if (color.kind === "none") return "none";
  return `${color.kind === "gene" ? "gene" : "obs"}:${color.key}`;
}

// Camera.state() as the numbers of the camera key, and back.
export function cameraNumbers(state) {
  return state.mode === "3d"
    ? [...state.target, state.yaw, state.pitch, state.distance]
    : [...state.center, state.zoom];
}

export function cameraState(numbers) {
  if (numbers.length === 6) {
    const [x, y, z, yaw, pitch, distance] = numbers;
    return { mode: "3d", target: [x, y, z], yaw, pitch, distance };
  }
  const [x, y, zoom] = numbers;
  return { mode: "2d", center: [x, y], zoom };
}

// The viewer credentials of this tab: from the URL when it carries them (kept in
// sessionStorage, so a reload keeps reporting), else from an earlier load of the same page.
export function viewerCredentials(params, storage = sessionStorage) {
  const key = `cellucid-viewer:${location.pathname}`;
  const [viewerId, viewerToken] = CREDENTIAL_KEYS.map((name) => params.get(name));
  try {
    if (viewerId && viewerToken) {
      storage.setItem(key, JSON.stringify({ viewerId, viewerToken }));
      return { viewerId, viewerToken };
    }
    const stored = JSON.parse(storage.getItem(key) ?? "null");
    if (stored?.viewerId && stored?.viewerToken) return stored;
  } catch {
    // Storage may be unavailable (privacy settings); the URL's credentials still count.
  }
  return viewerId && viewerToken ? { viewerId, viewerToken } : null;
}
