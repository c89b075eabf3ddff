// The view transform, shared by the GPU (one matrix) and by picking and lasso selection.
//
// 2D (and 1D): orthographic. The reset view centres the origin and maps the export's normalised
// [-1, 1] range onto FIT of the canvas's smaller side, so a cell at (x, y) appears at CSS pixel
//   (width / 2 + x * s, height / 2 - y * s),  s = FIT * min(width, height) / 2.
// 3D: perspective orbit around a target (drag to orbit, wheel to dolly); the 40° field of view
// spans the canvas's smaller side.

export const FIT = 0.9;
const FOV = (40 * Math.PI) / 180;
const DEFAULT_DISTANCE = 3.4;

function multiply(a, b) {
  const out = new Float32Array(16);
  for (let col = 0; col < 4; col++) {
    for (let row = 0; row < 4; row++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) sum += a[k * 4 + row] * b[col * 4 + k];
      out[col * 4 + row] = sum;
    }
  }
  return out;
}

function normalize(v) {
  const length = Math.hypot(...v) || 1;
  return v.map((x) => x / length);
}

function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export class Camera {
  constructor(dimension = 2) {
    this.reset(dimension);
  }

  reset(dimension) {
    this.is3d = dimension === 3;
    this.center = [0, 0];
    this.zoom = 1;
    this.target = [0, 0, 0];
    this.yaw = 0.6;
    this.pitch = 0.35;
    this.distance = DEFAULT_DISTANCE;
  }

  state() {
    return this.is3d
      ? { mode: "3d", target: [...this.target], yaw: this.yaw, pitch: this.pitch, distance: this.distance }
      : { mode: "2d", center: [...this.center], zoom: this.zoom };
  }

  // The inverse of state() (from a shared link: values are clamped to what navigation allows).
  restore(state) {
    const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));
    if (this.is3d && state.mode === "3d") {
      this.target = state.target.map((v) => clamp(v, -100, 100));
      this.yaw = state.yaw;
      this.pitch = clamp(state.pitch, -1.5, 1.5);
      this.distance = clamp(state.distance, 0.2, 40);
    } else if (!this.is3d && state.mode === "2d") {
      this.center = state.center.map((v) => clamp(v, -100, 100));
      this.zoom = clamp(state.zoom, 0.1, 2000);
    }
  }

  // True when the view is the one reset() gives.
  isReset() {
    const fresh = new Camera(this.is3d ? 3 : 2);
    return JSON.stringify(fresh.state()) === JSON.stringify(this.state());
  }

  // CSS pixels per normalised unit in 2D.
  scale(width, height) {
    return ((FIT * Math.min(width, height)) / 2) * this.zoom;
  }

  // Points of a sparse dataset are drawn larger; zooming in grows them a little.
  pointSize(count) {
    const base = Math.min(9, Math.max(1.5, 350 / Math.sqrt(Math.max(count, 1))));
    const zoom = this.is3d ? DEFAULT_DISTANCE / this.distance : this.zoom;
    return base * Math.min(4, Math.max(1, Math.sqrt(zoom)));
  }

  eye() {
    const c = Math.cos(this.pitch);
    return [
      this.target[0] + this.distance * c * Math.sin(this.yaw),
      this.target[1] + this.distance * Math.sin(this.pitch),
      this.target[2] + this.distance * c * Math.cos(this.yaw),
    ];
  }

  // Column-major clip-space matrix for a canvas of width x height CSS pixels.
  matrix(width, height) {
    if (!this.is3d) {
      const s = this.scale(width, height);
      const sx = (2 * s) / width;
      const sy = (2 * s) / height;
      return new Float32Array([
        sx, 0, 0, 0,
        0, sy, 0, 0,
        0, 0, 1, 0,
        -this.center[0] * sx, -this.center[1] * sy, 0, 1,
      ]);
    }
    const eye = this.eye();
    const forward = normalize(this.target.map((t, i) => t - eye[i]));
    const right = normalize(cross(forward, [0, 1, 0]));
    const up = cross(right, forward);
    const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    const view = new Float32Array([
      right[0], up[0], -forward[0], 0,
      right[1], up[1], -forward[1], 0,
      right[2], up[2], -forward[2], 0,
      -dot(right, eye), -dot(up, eye), dot(forward, eye), 1,
    ]);
    // The field of view spans the canvas's smaller side, so a portrait (phone) canvas shows as
    // much of the data across as a landscape one does top to bottom.
    const f = 1 / Math.tan(FOV / 2);
    const aspect = width / height;
    const near = 0.01;
    const far = 100;
    const projection = new Float32Array([
      aspect >= 1 ? f / aspect : f, 0, 0, 0,
      0, aspect >= 1 ? f : f * aspect, 0, 0,
      0, 0, (far + near) / (near - far), -1,
      0, 0, (2 * far * near) / (near - far), 0,
    ]);
    return multiply(projection, view);
  }

  // Screen positions (CSS pixels) of every cell; NaN for cells behind the camera.
  project(positions, dimension, width, height) {
    const m = this.matrix(width, height);
    const n = positions.length / dimension;
    const out = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const x = positions[i * dimension];
      const y = dimension > 1 ? positions[i * dimension + 1] : 0;
      const z = dimension > 2 ? positions[i * dimension + 2] : 0;
      const w = m[3] * x + m[7] * y + m[11] * z + m[15];
      if (w <= 0) {
        out[2 * i] = NaN;
        out[2 * i + 1] = NaN;
        continue;
      }
      out[2 * i] = ((m[0] * x + m[4] * y + m[8] * z + m[12]) / w + 1) * 0.5 * width;
      out[2 * i + 1] = (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * 0.5 * height;
    }
    return out;
  }

  // Drag by (dx, dy) CSS pixels: pan the plane (2D) or the target (3D, right button / ctrl).
  pan(dx, dy, width, height) {
    if (!this.is3d) {
      const s = this.scale(width, height);
      this.center = [this.center[0] - dx / s, this.center[1] + dy / s];
      return;
    }
    const eye = this.eye();
    const forward = normalize(this.target.map((t, i) => t - eye[i]));
    const right = normalize(cross(forward, [0, 1, 0]));
    const up = cross(right, forward);
    const perPixel = (2 * this.distance * Math.tan(FOV / 2)) / Math.min(width, height);
    this.target = this.target.map((t, i) => t - (right[i] * dx - up[i] * dy) * perPixel);
  }

  orbit(dx, dy) {
    this.yaw -= dx * 0.008;
    this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + dy * 0.008));
  }

  // Zoom by factor (> 1 = closer), keeping the point under (sx, sy) in place in 2D.
  zoomAt(factor, sx, sy, width, height) {
    if (this.is3d) {
      this.distance = Math.max(0.2, Math.min(40, this.distance / factor));
      return;
    }
    const before = this.scale(width, height);
    const zoom = Math.max(0.1, Math.min(2000, this.zoom * factor));
    const after = (before / this.zoom) * zoom;
    const ox = sx - width / 2;
    const oy = height / 2 - sy;
    this.center = [
      this.center[0] + ox / before - ox / after,
      this.center[1] + oy / before - oy / after,
    ];
    this.zoom = zoom;
  }
}
