// One dataset on screen: loading (through the decode worker), colouring, navigation, selection
// and its summary, the view in the page's URL, events and session bundles.

import { Camera } from "./camera.js";
import { MISSING, categoryColor } from "./colors.js";
import { categoricalSpec, continuousSpec, embeddingSpec, geneSpec } from "./data.js";
import { GeneSearch } from "./genes.js";
import { renderCategories, renderColorBar } from "./legend.js";
import { categoryBreakdown, foldOnClick, insideOutsideMeans, renderSelectionSummary } from "./panels.js";
import { cellsInPolygon, nearestCell, toggleCell } from "./selection.js";
import { buildSessionBundle } from "./session.js";
import { formatNumber } from "./site.js";
import { cameraNumbers, cameraState, colorParam, viewUrl } from "./view-url.js";

const CACHED_FIELDS = 8;
const HOVER_INTERVAL_MS = 100;
const CLICK_SLOP_PX = 4;
// When a full frame takes longer than this (software GL, weak GPUs), the view is drawn from an
// even subset of the cells while it moves, and in full once it rests for SETTLE_MS.
const FRAME_BUDGET_MS = 50;
const MIN_SUBSET_CELLS = 50_000;
const SETTLE_MS = 250;
const MARKS = { "first-frame": "firstFrameMs", colored: "coloredMs" };
// The address is rewritten (history.replaceState) this long after the view last changed.
const URL_DELAY_MS = 300;
const NARROW = "(max-width: 640px)";

// Downloads and decodes payloads off the main thread (decode-worker.js); one task per payload.
export class DecodeWorker {
  constructor() {
    this.worker = new Worker(new URL("./decode-worker.js", import.meta.url), { type: "module" });
    this.pending = new Map();
    this.next = 1;
    this.worker.onmessage = ({ data }) => {
      const task = this.pending.get(data.id);
      if (!task) return;
      if (data.progress) {
        task.onProgress(...data.progress);
        return;
      }
      this.pending.delete(data.id);
      if (data.error) task.reject(new Error(data.error));
      else task.resolve(data.result);
    };
    this.worker.onerror = (event) => {
      for (const task of this.pending.values()) task.reject(new Error(event.message || "the decode worker failed"));
      this.pending.clear();
    };
  }

  run(task, onProgress) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...task, id });
    });
  }
}

// The loading indicator: every running download with its bytes, one combined progress bar.
export class Progress {
  constructor(root) {
    this.root = root;
    this.text = root.querySelector(".loading-text");
    this.bar = root.querySelector("progress");
    this.tasks = new Set();
  }

  message(text) {
    this.root.hidden = false;
    this.text.textContent = text;
    this.bar.removeAttribute("value");
  }

  start(label) {
    const task = { label, loaded: 0, total: 0 };
    this.tasks.add(task);
    this.update();
    return {
      update: (loaded, total) => {
        task.loaded = loaded;
        task.total = total;
        this.update();
      },
      done: () => {
        this.tasks.delete(task);
        this.update();
      },
    };
  }

  update() {
    const tasks = [...this.tasks];
    this.root.hidden = tasks.length === 0;
    document.body.toggleAttribute("data-busy", tasks.length > 0);
    if (!tasks.length) return;
    const loaded = tasks.reduce((sum, t) => sum + t.loaded, 0);
    const total = tasks.reduce((sum, t) => sum + t.total, 0);
    const mb = (bytes) => (bytes / 1e6).toFixed(1);
    const bytes = total ? ` — ${mb(loaded)} of ${mb(total)} MB` : loaded ? ` — ${mb(loaded)} MB` : "";
    this.text.textContent = tasks.map((t) => t.label).join(" · ") + bytes;
    if (total) this.bar.value = Math.min(1, loaded / total);
    else this.bar.removeAttribute("value");
  }
}

export class Viewer {
  constructor({ identity, obsManifest, varManifest, exportUrl, worker, renderer, channel, progress, say, ui }) {
    this.identity = identity;
    this.obs = obsManifest;
    this.var = varManifest;
    this.exportUrl = exportUrl;
    this.channel = channel;
    this.progress = progress;
    this.say = say;
    this.ui = ui;
    this.nCells = identity.stats.n_cells;
    this.worker = worker;
    this.renderer = renderer;
    this.camera = new Camera();
    this.embeddings = new Map();
    this.fields = new Map();
    this.color = { kind: "none", key: null };
    this.colorRequest = 0;
    this.selection = null;
    this.selectionSource = null;
    this.lastCategory = null;
    this.lastContinuous = null;
    this.initialHidden = null;
    this.defaultView = null;
    this.urlReady = false;
    this.urlTimer = null;
    this.lassoMode = false;
    this.screen = null;
    this.hovered = null;
    this.moving = false;
  }

  url(path) {
    return new URL(path, this.exportUrl).href;
  }

  async load(label, task) {
    const handle = this.progress.start(label);
    try {
      return await this.worker.run(task, handle.update);
    } finally {
      handle.done();
    }
  }

  // The view a link asks for (view-url.js: embedding, colouring, hidden categories, camera), each
  // part that names nothing in this dataset replaced by the default: the identity's default
  // embedding for its default dimension, the first categorical field.
  async start(view) {
    const { defaults, default_dimension: dimension, items } = this.identity.embeddings;
    this.defaultView = {
      embedding: defaults[`${dimension}d`] ?? Object.keys(items)[0],
      color: this.defaultColorField(),
    };
    const embeddingId = Object.hasOwn(items, view.embedding ?? "") ? view.embedding : this.defaultView.embedding;
    const requested = view.color ? this.fieldFor(view.color) : false;
    const colorField = requested === false ? this.defaultView.color : requested;
    this.initialHidden = { names: view.hidden, missing: view.hideMissing };
    const coloring = colorField ? this.fetchField(colorField) : null;
    const positions = this.loadEmbedding(embeddingId);
    this.setupControls(embeddingId);
    this.useEmbedding(embeddingId, await positions);
    if (view.camera) this.camera.restore(cameraState(view.camera));
    performance.mark("cellucid:positions");
    // The colours usually arrive first (a byte per cell against 8-12): then the first frame is
    // already coloured; otherwise draw every cell now and colour them when the codes arrive.
    const early = coloring && (await Promise.race([coloring, null]));
    if (early) {
      this.applyColorData(colorField, early);
      this.renderNow("first-frame", "colored");
      this.showColorState();
    } else {
      this.renderNow("first-frame");
      if (colorField) await this.applyField(colorField, coloring);
    }
    this.ui.loading.classList.remove("initial");
    this.urlReady = true;
    this.writeUrl();
    document.body.dataset.state = "ready";
    performance.mark("cellucid:ready");
    const item = items[embeddingId];
    this.channel.send("ready", { n_cells: this.nCells, dimensions: item.dimension });
  }

  // ---- controls ------------------------------------------------------------------------------

  setupControls(embeddingId) {
    const { ui } = this;
    const options = (select, entries) =>
      select.replaceChildren(
        ...entries.map(([value, label]) => {
          const option = document.createElement("option");
          option.value = value;
          option.textContent = label;
          return option;
        }),
      );
    const items = Object.entries(this.identity.embeddings.items);
    options(ui.embedding, items.map(([id, item]) => [id, `${item.label} (${item.dimension}D)`]));
    ui.embedding.value = embeddingId;
    ui.embedding.addEventListener("change", () => this.run(this.switchEmbedding(ui.embedding.value)));

    const fields = this.obs ? this.identity.obs_fields : [];
    options(ui.colorField, [
      ["none", "None"],
      ...fields.map((f) => [`obs:${f.key}`, f.kind === "category" ? `${f.key} (${f.n_categories})` : f.key]),
    ]);
    ui.colorField.addEventListener("change", () => {
      const value = ui.colorField.value;
      if (value === "none") this.clearColor();
      else if (value.startsWith("obs:")) {
        const key = value.slice(4);
        const field = fields.find((f) => f.key === key);
        this.run(this.applyField({ kind: field.kind === "category" ? "category" : "continuous", key }));
      }
    });

    if (this.var?.fields.length) {
      this.geneSearch = new GeneSearch(ui.gene, ui.geneOptions, this.var, (index) => this.run(this.applyGene(index)));
    } else {
      ui.gene.closest(".gene-search").hidden = true;
    }

    ui.lasso.addEventListener("click", () => {
      this.lassoMode = !this.lassoMode;
      ui.lasso.setAttribute("aria-pressed", String(this.lassoMode));
      ui.canvas.classList.toggle("lasso-mode", this.lassoMode);
    });
    ui.reset.addEventListener("click", () => {
      this.camera.reset(this.dimension);
      this.changed();
    });
    ui.save.addEventListener("click", () => this.run(this.saveSession()));
    ui.copyLink.addEventListener("click", () => this.run(this.copyLink()));
    ui.menuToggle.addEventListener("click", () => {
      const open = document.body.toggleAttribute("data-controls-open");
      ui.menuToggle.setAttribute("aria-expanded", String(open));
      this.screen = null;
    });
    foldOnClick(ui.legend);
    foldOnClick(ui.selectionPanel);
    if (matchMedia(NARROW).matches) ui.legend.classList.add("folded");
    ui.clearSelection.addEventListener("click", () => this.setSelection(null, null));
    this.setupPointer();
    new ResizeObserver(() => {
      this.screen = null;
      this.requestRender();
    }).observe(ui.canvas);
    ui.controls.hidden = false;
    ui.menuToggle.hidden = false;
  }

  // The field a link's colour names: {kind:"none"} → null; an obs key or gene name this dataset
  // does not have → false.
  fieldFor(color) {
    if (color.kind === "none") return null;
    if (color.kind === "gene") {
      const index = this.var?.fields.findIndex((f) => String(f[1]) === color.key) ?? -1;
      return index >= 0 ? { kind: "gene", key: color.key, index } : false;
    }
    const field = this.obs ? this.identity.obs_fields.find((f) => f.key === color.key) : null;
    return field ? { kind: field.kind === "category" ? "category" : "continuous", key: field.key } : false;
  }

  defaultColorField() {
    if (!this.obs) return null;
    const fields = this.identity.obs_fields;
    const field = fields.find((f) => f.kind === "category") ?? fields[0];
    if (!field) return null;
    return { kind: field.kind === "category" ? "category" : "continuous", key: field.key };
  }

  // Run an action started by the user; report its failure without stopping the viewer.
  run(promise) {
    promise.catch((error) => this.say(`Error: ${error.message}`, true));
  }

  // ---- drawing -------------------------------------------------------------------------------

  // The view moved: draw the subset (if frames are slow) until it rests, then everything.
  changed() {
    this.screen = null;
    this.moving = true;
    this.viewChanged();
    this.settleLater();
    this.requestRender();
  }

  // A frame still waiting to be drawn means the view has not rested yet (slow frames).
  settleLater() {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (this.frameRequested) {
        this.settleLater();
        return;
      }
      this.moving = false;
      this.requestRender();
    }, SETTLE_MS);
  }

  requestRender() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.renderer.render(this.camera, this.moving);
    });
  }

  // Draw every cell now and wait for the GPU: the moment they are all on screen. The time it
  // took decides whether moving views are drawn from a subset.
  renderNow(...marks) {
    const start = performance.now();
    this.renderer.render(this.camera, false);
    this.renderer.finish();
    const cost = performance.now() - start;
    const subset = cost > FRAME_BUDGET_MS
      ? Math.max(MIN_SUBSET_CELLS, Math.round((this.nCells * FRAME_BUDGET_MS) / cost))
      : null;
    document.body.dataset.subsetCells = String(this.renderer.setSubset(subset));
    for (const mark of marks) {
      performance.mark(`cellucid:${mark}`);
      document.body.dataset[MARKS[mark]] = String(Math.round(performance.now()));
    }
  }

  size() {
    return [this.ui.canvas.clientWidth, this.ui.canvas.clientHeight];
  }

  screenPositions() {
    if (!this.screen) this.screen = this.camera.project(this.positions, this.dimension, ...this.size());
    return this.screen;
  }

  // ---- data ----------------------------------------------------------------------------------

  async loadEmbedding(id) {
    let entry = this.embeddings.get(id);
    if (!entry) {
      const spec = embeddingSpec(this.identity, id);
      const { positions } = await this.load(`Loading ${formatNumber(this.nCells)} cells`, {
        op: "embedding",
        url: this.url(spec.path),
        nCells: this.nCells,
        dimension: spec.dimension,
      });
      entry = { positions, dimension: spec.dimension };
      this.embeddings.set(id, entry);
    }
    return entry;
  }

  useEmbedding(id, entry) {
    this.embeddingId = id;
    this.positions = entry.positions;
    this.dimension = entry.dimension;
    this.ui.embedding.value = id;
    this.camera.reset(entry.dimension);
    this.renderer.setPositions(entry.positions, entry.dimension);
    this.screen = null;
    document.body.dataset.embedding = id;
  }

  async switchEmbedding(id) {
    this.useEmbedding(id, await this.loadEmbedding(id));
    this.requestRender();
    this.viewChanged();
  }

  fieldKey(field) {
    return `${field.kind}:${field.key}`;
  }

  fetchField(field) {
    const key = this.fieldKey(field);
    const cached = this.fields.get(key);
    if (cached) return cached;
    let promise;
    if (field.kind === "category") {
      const spec = categoricalSpec(this.obs, field.key);
      promise = this.load(`Colouring by ${field.key}`, {
        op: "categorical",
        url: this.url(spec.path),
        nCells: this.nCells,
        codesDtype: spec.codesDtype,
        missing: spec.missing,
        nCategories: spec.categories.length,
      }).then((result) => ({ ...result, categories: spec.categories, colors: spec.colors }));
    } else {
      const spec = field.kind === "gene" ? geneSpec(this.var, field.index) : continuousSpec(this.obs, field.key);
      promise = this.load(`Colouring by ${field.key}`, {
        op: "continuous",
        url: this.url(spec.path),
        nCells: this.nCells,
        ext: spec.ext,
        bounds: spec.bounds,
      });
    }
    this.fields.set(key, promise);
    promise.catch(() => this.fields.delete(key));
    while (this.fields.size > CACHED_FIELDS) this.fields.delete(this.fields.keys().next().value);
    return promise;
  }

  async applyGene(index) {
    await this.applyField({ kind: "gene", key: String(this.var.fields[index][1]), index });
  }

  // The gene as the selected "Colour by" option (one gene option at a time).
  showGeneOption(field) {
    const select = this.ui.colorField;
    select.querySelector("option[data-gene]")?.remove();
    const option = document.createElement("option");
    option.value = `gene:${field.index}`;
    option.dataset.gene = "";
    option.textContent = `Gene ${field.key}`;
    select.append(option);
    select.value = option.value;
  }

  async applyField(field, pending) {
    const request = ++this.colorRequest;
    const data = await (pending ?? this.fetchField(field));
    if (request !== this.colorRequest) return;
    this.applyColorData(field, data);
    this.finishColoring();
  }

  applyColorData(field, data) {
    const initialHidden = this.initialHidden;
    this.initialHidden = null;
    if (field.kind === "category") {
      this.color = { ...field, ...data, hidden: this.hiddenSlots(data.categories, initialHidden) };
      this.lastCategory = { key: field.key, data };
      this.renderer.setValues("category", data.slots);
      this.updatePalette();
      document.body.dataset.hidden = String(this.color.hidden.size);
    } else {
      this.color = { ...field, ...data };
      const title = field.kind === "gene" ? `Gene ${field.key}` : field.key;
      this.lastContinuous = { label: title, data };
      this.renderer.setValues("continuous", data.scaled);
      renderColorBar(this.ui.legend, title, data.min, data.max, data.missing);
    }
    if (field.kind === "gene") {
      this.showGeneOption(field);
    } else {
      this.ui.colorField.value = `obs:${field.key}`;
      this.ui.colorField.querySelector("option[data-gene]")?.remove();
    }
    this.updateSelectionSummary();
    this.viewChanged();
  }

  // Slots of the categories a link hides (names it lists that this field has; "missing" by flag).
  hiddenSlots(categories, requested) {
    const hidden = new Set();
    if (!requested) return hidden;
    const wanted = new Set(requested.names);
    categories.forEach((name, slot) => {
      if (wanted.has(String(name))) hidden.add(slot);
    });
    if (requested.missing) hidden.add(categories.length);
    return hidden;
  }

  clearColor() {
    this.colorRequest++;
    this.color = { kind: "none", key: null };
    this.renderer.setValues("uniform", new Float32Array(this.nCells));
    this.ui.legend.hidden = true;
    this.finishColoring();
    this.updateSelectionSummary();
    this.viewChanged();
  }

  finishColoring() {
    if (!document.body.dataset.coloredMs) this.renderNow("colored");
    else this.requestRender();
    this.showColorState();
  }

  showColorState() {
    document.body.dataset.color = this.color.kind === "none" ? "none" : `${this.color.kind}:${this.color.key}`;
  }

  updatePalette() {
    const { categories, counts, hidden, colors } = this.color;
    const slots = categories.length + 1;
    const rgba = new Uint8Array(slots * 4);
    for (let slot = 0; slot < slots; slot++) {
      const rgb = slot === categories.length ? MISSING : categoryColor(slot, colors);
      rgba.set([...rgb, hidden.has(slot) ? 0 : 255], slot * 4);
    }
    this.renderer.setPalette(rgba);
    renderCategories(this.ui.legend, this.color.key, categories, counts, hidden, (slot) => this.toggleCategory(slot), colors);
  }

  toggleCategory(slot) {
    const { hidden } = this.color;
    if (slot === null) hidden.clear();
    else if (hidden.has(slot)) hidden.delete(slot);
    else hidden.add(slot);
    this.updatePalette();
    this.requestRender();
    document.body.dataset.hidden = String(hidden.size);
    this.viewChanged();
  }

  visibility() {
    if (this.color.kind !== "category" || !this.color.hidden.size) return () => true;
    const { slots, hidden } = this.color;
    return (i) => !hidden.has(slots[i]);
  }

  describe(cell) {
    const { color } = this;
    let value = "";
    if (color.kind === "category") {
      const slot = color.slots[cell];
      value = slot === color.categories.length ? "missing" : String(color.categories[slot]);
    } else if (color.kind !== "none") {
      const v = color.values[cell];
      value = Number.isNaN(v) ? "missing" : formatNumber(v);
    }
    return value ? `cell ${cell} · ${color.key}: ${value}` : `cell ${cell}`;
  }

  // ---- pointer: pan/orbit, zoom, hover, click, lasso ------------------------------------------

  setupPointer() {
    const { canvas } = this.ui;
    const local = (event) => {
      const rect = canvas.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    };
    let gesture = null;
    // Pointers down on the canvas; two of them (fingers) pinch: zoom about their midpoint, and
    // in 2D pan with it.
    const pointers = new Map();
    const pinch = () => {
      const [a, b] = [...pointers.values()];
      return { mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], spread: Math.max(1, Math.hypot(a[0] - b[0], a[1] - b[1])) };
    };
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.positions) return;
      canvas.setPointerCapture(event.pointerId);
      const at = local(event);
      pointers.set(event.pointerId, at);
      if (pointers.size >= 2) {
        gesture = pointers.size === 2 ? { kind: "pinch", ...pinch() } : gesture;
        this.drawLasso(null);
        return;
      }
      const lasso = event.button === 0 && (this.lassoMode || event.shiftKey);
      const pan = !this.camera.is3d || event.button === 2 || event.ctrlKey;
      gesture = { kind: lasso ? "lasso" : pan ? "pan" : "orbit", start: at, last: at, moved: false, points: [at] };
      this.setHover(null);
    });
    canvas.addEventListener("pointermove", (event) => {
      const at = local(event);
      if (pointers.has(event.pointerId)) pointers.set(event.pointerId, at);
      if (gesture?.kind === "pinch") {
        const now = pinch();
        this.camera.zoomAt(now.spread / gesture.spread, ...now.mid, ...this.size());
        if (!this.camera.is3d) this.camera.pan(now.mid[0] - gesture.mid[0], now.mid[1] - gesture.mid[1], ...this.size());
        Object.assign(gesture, now);
        this.changed();
        return;
      }
      if (!gesture) {
        this.hoverAt(at);
        return;
      }
      const [dx, dy] = [at[0] - gesture.last[0], at[1] - gesture.last[1]];
      gesture.last = at;
      if (Math.hypot(at[0] - gesture.start[0], at[1] - gesture.start[1]) > CLICK_SLOP_PX) gesture.moved = true;
      if (gesture.kind === "lasso") {
        gesture.points.push(at);
        this.drawLasso(gesture.points);
      } else if (gesture.moved) {
        if (gesture.kind === "pan") this.camera.pan(dx, dy, ...this.size());
        else this.camera.orbit(dx, dy);
        this.changed();
      }
    });
    const end = (event) => {
      pointers.delete(event.pointerId);
      if (!gesture) return;
      if (gesture.kind === "pinch") {
        if (pointers.size < 2) gesture = null;
        return;
      }
      const done = gesture;
      gesture = null;
      this.drawLasso(null);
      if (event.type === "pointercancel") return;
      if (done.kind === "lasso" && done.moved && done.points.length >= 3) {
        const cells = cellsInPolygon(this.screenPositions(), done.points, this.visibility());
        this.setSelection(cells.length ? cells : null, "lasso");
      } else if (!done.moved) {
        this.clickAt(done.start, event);
      }
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerleave", () => {
      if (!gesture) this.setHover(null);
    });
    canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const scale = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
        this.camera.zoomAt(Math.exp(-event.deltaY * scale * 0.0015), ...local(event), ...this.size());
        this.changed();
      },
      { passive: false },
    );
    canvas.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.setSelection(null, null);
    });
  }

  pickRadius() {
    return Math.max(6, this.camera.pointSize(this.nCells));
  }

  cellAt([x, y]) {
    return nearestCell(this.screenPositions(), x, y, this.pickRadius(), this.visibility());
  }

  hoverAt(at) {
    this.pendingHover = at;
    if (this.hoverScheduled) return;
    this.hoverScheduled = true;
    requestAnimationFrame(() => {
      this.hoverScheduled = false;
      if (this.positions) this.setHover(this.cellAt(this.pendingHover), this.pendingHover);
    });
  }

  setHover(cell, at) {
    const { tooltip } = this.ui;
    if (cell === null) tooltip.hidden = true;
    else {
      tooltip.textContent = this.describe(cell);
      tooltip.style.left = `${at[0] + 14}px`;
      tooltip.style.top = `${at[1] + 14}px`;
      tooltip.hidden = false;
    }
    if (cell === this.hovered) return;
    this.hovered = cell;
    this.sendHover();
  }

  // Hover events go out when the hovered cell changes, at most one per HOVER_INTERVAL_MS, the
  // latest one always last.
  sendHover() {
    if (!this.channel.enabled || this.hoverTimer) return;
    const cell = this.hovered;
    const d = this.dimension;
    const position = cell === null ? null : {
      x: this.positions[cell * d],
      y: d > 1 ? this.positions[cell * d + 1] : 0,
      z: d > 2 ? this.positions[cell * d + 2] : 0,
    };
    this.channel.send("hover", { cell, position });
    this.sentHover = cell;
    this.hoverTimer = setTimeout(() => {
      this.hoverTimer = null;
      if (this.hovered !== this.sentHover) this.sendHover();
    }, HOVER_INTERVAL_MS);
  }

  clickAt(at, event) {
    const cell = this.cellAt(at);
    if (cell === null) {
      if (!event.shiftKey) this.setSelection(null, null);
      return;
    }
    this.channel.send("click", { cell, button: event.button, shift: event.shiftKey, ctrl: event.ctrlKey });
    const cells = event.shiftKey ? toggleCell(this.selection, cell) : Uint32Array.of(cell);
    this.setSelection(cells, "click");
  }

  drawLasso(points) {
    const { lassoPath } = this.ui;
    lassoPath.setAttribute("points", points ? points.map((p) => p.join(",")).join(" ") : "");
  }

  setSelection(cells, source) {
    this.selection = cells;
    this.selectionSource = cells ? source : null;
    let mask = null;
    if (cells) {
      mask = new Uint8Array(this.nCells);
      for (const cell of cells) mask[cell] = 1;
    }
    this.renderer.setSelection(mask);
    this.requestRender();
    const count = cells?.length ?? 0;
    this.ui.selectionCount.textContent = count ? `${formatNumber(count)} selected` : "";
    this.ui.clearSelection.hidden = !count;
    document.body.dataset.selected = String(count);
    this.updateSelectionSummary();
    if (cells) this.channel.sendSelection(cells, source);
  }

  // The selection panel: cells per category of the current field (or of the last categorical
  // field shown) and the mean of the current gene or continuous field (or the last one shown)
  // inside vs outside the selection.
  updateSelectionSummary() {
    const { selection } = this;
    const panel = this.ui.selectionPanel;
    if (!selection?.length) {
      panel.hidden = true;
      return;
    }
    const category = this.lastCategory;
    const continuous = this.lastContinuous;
    const means = continuous && insideOutsideMeans(selection, continuous.data);
    renderSelectionSummary(panel, {
      count: selection.length,
      total: this.nCells,
      category: category && { key: category.key, ...categoryBreakdown(selection, category.data) },
      means: means && { label: continuous.label, ...means },
    });
  }

  // ---- the view in the URL -------------------------------------------------------------------

  currentView() {
    const { color, defaultView } = this;
    const shown = colorParam(color);
    const category = color.kind === "category" ? color : null;
    return {
      embedding: this.embeddingId === defaultView.embedding ? null : this.embeddingId,
      color: shown === colorParam(defaultView.color ?? { kind: "none" }) ? null : shown,
      hidden: category ? [...category.hidden].filter((s) => s < category.categories.length).sort((a, b) => a - b).map((s) => String(category.categories[s])) : [],
      hideMissing: Boolean(category?.hidden.has(category.categories.length)),
      camera: this.camera.isReset() ? null : cameraNumbers(this.camera.state()),
    };
  }

  // Keep the address showing this view (a moment after it stops changing).
  viewChanged() {
    if (!this.urlReady) return;
    clearTimeout(this.urlTimer);
    this.urlTimer = setTimeout(() => this.writeUrl(), URL_DELAY_MS);
  }

  writeUrl() {
    const url = viewUrl(location.href, this.currentView());
    if (url !== location.href) history.replaceState(history.state, "", url);
  }

  async copyLink() {
    const url = viewUrl(location.href, this.currentView());
    try {
      await navigator.clipboard.writeText(url);
      this.say("Link to this view copied");
    } catch {
      this.say(`Link to this view: ${url}`);
    }
  }

  // ---- session -------------------------------------------------------------------------------

  async saveSession() {
    const { color } = this;
    const hiddenCategories = color.kind === "category"
      ? [...color.hidden].sort((a, b) => a - b).map((slot) => color.categories[slot] ?? null)
      : [];
    const bytes = await buildSessionBundle({
      identity: this.identity,
      exportUrl: this.exportUrl,
      embeddingId: this.embeddingId,
      positions: this.positions,
      colorBy: { kind: color.kind, key: color.key },
      hiddenCategories,
      camera: this.camera.state(),
      selection: this.selection,
      selectionSource: this.selectionSource,
    });
    if (this.channel.enabled) {
      const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
      if (await this.channel.sendSessionBundle(bytes, id)) this.say("Session saved");
      return;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    link.download = `${this.identity.id}.cellucid-session`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    this.say("Session downloaded");
  }
}
