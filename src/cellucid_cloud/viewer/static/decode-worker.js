// Off the main thread: download, inflate and decode one payload, and turn it into what the GPU
// draws (one float per cell: a category's palette slot, or a value scaled to [0, 1]).
// Messages in: {id, op, url, nCells, ...}; out: {id, progress: [loaded, total]} while
// downloading, then {id, result} (buffers transferred) or {id, error}.

import { decodeCodes, decodeEmbedding, decodeValues, fetchBytes } from "./data.js";

const OPS = {
  embedding(task, bytes) {
    const positions = decodeEmbedding(bytes, task.nCells, task.dimension);
    return { result: { positions }, transfer: [positions.buffer] };
  },

  // Palette slot per cell: the code, or nCategories for a missing value; plus counts per slot.
  categorical(task, bytes) {
    const codes = decodeCodes(bytes, task.codesDtype, task.nCells);
    const n = task.nCategories;
    const slots = new Float32Array(task.nCells);
    const counts = new Uint32Array(n + 1);
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      const slot = code === task.missing || code >= n ? n : code;
      slots[i] = slot;
      counts[slot]++;
    }
    return { result: { slots, counts }, transfer: [slots.buffer, counts.buffer] };
  },

  // Values as decoded (for read-outs) and scaled to [0, 1] over the manifest's bounds (or the
  // finite range of an unquantised payload); -1 marks a missing value.
  continuous(task, bytes) {
    const values = decodeValues(bytes, task.ext, task.bounds, task.nCells);
    let [lo, hi] = task.bounds ?? [Infinity, -Infinity];
    if (!task.bounds) {
      for (const v of values) {
        if (Number.isFinite(v)) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
    const scale = hi > lo ? 1 / (hi - lo) : 0;
    const scaled = new Float32Array(values.length);
    let missing = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (Number.isNaN(v)) {
        scaled[i] = -1;
        missing++;
      } else {
        scaled[i] = Math.min(1, Math.max(0, (v - lo) * scale));
      }
    }
    const finite = Number.isFinite(lo) && Number.isFinite(hi);
    return {
      result: { values, scaled, min: finite ? lo : null, max: finite ? hi : null, missing },
      transfer: [values.buffer, scaled.buffer],
    };
  },
};

self.onmessage = async (event) => {
  const task = event.data;
  try {
    const op = OPS[task.op];
    if (!op) throw new Error(`unknown task ${task.op}`);
    let last = 0;
    const bytes = await fetchBytes(task.url, (loaded, total) => {
      const now = performance.now();
      if (now - last > 50 || loaded === total) {
        last = now;
        self.postMessage({ id: task.id, progress: [loaded, total] });
      }
    });
    const { result, transfer } = op(task, bytes);
    self.postMessage({ id: task.id, result }, transfer);
  } catch (error) {
    self.postMessage({ id: task.id, error: String(error?.message ?? error) });
  }
};
