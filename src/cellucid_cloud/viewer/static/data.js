// Fetching and decoding the payloads of a Cellucid export (DESIGN §3), shared by the decode
// worker and the page. Every payload is raw little-endian with no header; a ".gz" name is one
// gzip member that the browser inflates itself (the server sends no Content-Encoding).
// Dequantisation is exactly the Python reader's: min + code * ((max - min) / maxQ) in double
// precision, stored as float32; the dtype maximum is a missing value (NaN).

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) {
  throw new Error("this viewer decodes little-endian payloads and needs a little-endian platform");
}

const ARRAYS = { f32: Float32Array, u8: Uint8Array, u16: Uint16Array, u32: Uint32Array };
const MAX_CODE = { u8: 254, u16: 65534 };
const MISSING_CODE = { u8: 255, u16: 65535 };
export const CODES_EXT = { uint8: "u8", uint16: "u16", uint32: "u32" };

// Defined here, not in site.js, so that the decode worker's module graph stays this one file (a
// second, sequential fetch before the worker can start on the first payload); site.js re-exports it.
export class HttpError extends Error {
  constructor(url, status) {
    super(`${url} answered HTTP ${status}`);
    this.status = status;
  }
}

// A payload's bytes, inflated when its path ends in .gz; onProgress(loaded, total) counts the
// bytes as they arrive (total 0 when the server did not say).
export async function fetchBytes(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new HttpError(url, response.status);
  const total = Number(response.headers.get("Content-Length")) || 0;
  let stream = response.body;
  if (onProgress) {
    let loaded = 0;
    stream = stream.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          loaded += chunk.byteLength;
          onProgress(loaded, total);
          controller.enqueue(chunk);
        },
      }),
    );
  }
  if (new URL(url, "http://base.invalid/").pathname.endsWith(".gz")) {
    stream = stream.pipeThrough(new DecompressionStream("gzip"));
  }
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function typed(bytes, ext, count) {
  const Array_ = ARRAYS[ext];
  if (!Array_) throw new Error(`unknown payload type ${ext}`);
  if (bytes.byteLength !== count * Array_.BYTES_PER_ELEMENT) {
    throw new Error(
      `payload has ${bytes.byteLength} bytes, expected ${count} ${ext} values ` +
        `(${count * Array_.BYTES_PER_ELEMENT} bytes)`,
    );
  }
  const aligned = bytes.byteOffset % Array_.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice();
  return new Array_(aligned.buffer, aligned.byteOffset, count);
}

// An embedding: float32 (n, dimension), row-major, normalised to [-1, 1].
export function decodeEmbedding(bytes, nCells, dimension) {
  return typed(bytes, "f32", nCells * dimension);
}

// Continuous values (obs field or gene) as float32, missing as NaN.
export function decodeValues(bytes, ext, bounds, nCells) {
  const raw = typed(bytes, ext, nCells);
  if (ext === "f32") return raw;
  const maxCode = MAX_CODE[ext];
  if (maxCode === undefined) throw new Error(`${ext} is not a value encoding`);
  const [lo, hi] = bounds;
  const step = (hi - lo) / maxCode;
  const missing = MISSING_CODE[ext];
  const out = new Float32Array(nCells);
  for (let i = 0; i < nCells; i++) {
    const code = raw[i];
    out[i] = code === missing ? NaN : lo + code * step;
  }
  return out;
}

// Categorical codes in their declared width (uint8/uint16/uint32); missing = the dtype maximum.
export function decodeCodes(bytes, codesDtype, nCells) {
  const ext = CODES_EXT[codesDtype];
  if (!ext) throw new Error(`unknown categorical dtype ${codesDtype}`);
  return typed(bytes, ext, nCells);
}

function expand(pattern, index, ext) {
  return pattern.replaceAll("{index}", String(index)).replaceAll("{ext}", ext ?? "");
}

// Where each payload lives and how to decode it, from the identity and the compact_v2 manifests.
export function embeddingSpec(identity, id) {
  const item = identity.embeddings.items[id];
  if (!item) throw new Error(`no embedding ${id}`);
  return { path: item.file, dimension: item.dimension };
}

export function continuousSpec(obsManifest, key) {
  const entry = obsManifest._continuousFields.find((e) => e[1] === key);
  if (!entry) throw new Error(`no continuous obs field ${key}`);
  const schema = obsManifest._obsSchemas.continuous;
  return {
    path: expand(schema.pathPattern, entry[0]),
    ext: schema.ext,
    bounds: entry.length >= 4 ? [entry[2], entry[3]] : null,
  };
}

export function categoricalSpec(obsManifest, key) {
  const entry = obsManifest._categoricalFields.find((e) => e[1] === key);
  if (!entry) throw new Error(`no categorical obs field ${key}`);
  const [index, , categories, codesDtype, missing] = entry;
  const schema = obsManifest._obsSchemas.categorical;
  return {
    path: expand(schema.codesPathPattern, index, CODES_EXT[codesDtype]),
    codesDtype,
    missing,
    categories,
    colors: obsManifest.category_colors?.[key] ?? null,
  };
}

export function geneSpec(varManifest, geneIndex) {
  const entry = varManifest.fields[geneIndex];
  if (!entry) throw new Error(`no gene at position ${geneIndex}`);
  const schema = varManifest._varSchema;
  return {
    name: String(entry[1]),
    path: expand(schema.pathPattern, entry[0]),
    ext: schema.ext,
    bounds: entry.length >= 4 ? [entry[2], entry[3]] : null,
  };
}
