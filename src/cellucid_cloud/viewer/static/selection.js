// Picking and lasso selection on screen positions (CSS pixels, from Camera.project).

// Cells strictly inside the polygon (even-odd rule), in ascending order, skipping hidden ones.
export function cellsInPolygon(screen, polygon, visible) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of polygon) {
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const xs = Float64Array.from(polygon, (p) => p[0]);
  const ys = Float64Array.from(polygon, (p) => p[1]);
  const m = polygon.length;
  const inside = [];
  const n = screen.length / 2;
  for (let i = 0; i < n; i++) {
    const px = screen[2 * i];
    const py = screen[2 * i + 1];
    if (!(px >= minX && px <= maxX && py >= minY && py <= maxY) || !visible(i)) continue;
    let odd = false;
    for (let a = 0, b = m - 1; a < m; b = a++) {
      if (ys[a] > py !== ys[b] > py && px < ((xs[b] - xs[a]) * (py - ys[a])) / (ys[b] - ys[a]) + xs[a]) {
        odd = !odd;
      }
    }
    if (odd) inside.push(i);
  }
  return Uint32Array.from(inside);
}

// The visible cell nearest to (x, y) within radius pixels, or null.
export function nearestCell(screen, x, y, radius, visible) {
  let best = null;
  let bestDistance = radius * radius;
  const n = screen.length / 2;
  for (let i = 0; i < n; i++) {
    const dx = screen[2 * i] - x;
    const dy = screen[2 * i + 1] - y;
    const d = dx * dx + dy * dy;
    if (d <= bestDistance && visible(i)) {
      bestDistance = d;
      best = i;
    }
  }
  return best;
}

// Add or remove one cell from an ascending selection.
export function toggleCell(selection, cell) {
  const cells = selection ? Array.from(selection) : [];
  const at = cells.indexOf(cell);
  if (at >= 0) cells.splice(at, 1);
  else cells.push(cell);
  cells.sort((a, b) => a - b);
  return cells.length ? Uint32Array.from(cells) : null;
}
