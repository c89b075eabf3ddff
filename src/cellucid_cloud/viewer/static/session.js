// A minimal `.cellucid-session` (format 2, research-notes §4.4): the magic line, a u32 LE
// manifest length, the manifest JSON, then each chunk as u32 LE stored length + bytes, in
// manifest order. Chunks: "core/state" (embedding, colouring, hidden categories, camera) and, with
// a selection, "highlights/meta" plus "highlights/cells/selection" (cell-set encoding 0: a 0
// byte, then LEB128 varints: the count, the first index, the gaps to each next index).

const MAGIC = "CELLUCID_SESSION/2\n";
const encoder = new TextEncoder();

async function gzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function pushUvarint(value, out) {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

export function encodeCellSet(cells) {
  const out = [0];
  pushUvarint(cells.length, out);
  let previous = 0;
  cells.forEach((cell, i) => {
    pushUvarint(i === 0 ? cell : cell - previous, out);
    previous = cell;
  });
  return Uint8Array.from(out);
}

// 16 hex digits: 64-bit FNV-1a over the embedding's float32 bytes (the cell order's fingerprint).
export function cellOrderDigest(positions) {
  const bytes = new Uint8Array(positions.buffer, positions.byteOffset, positions.byteLength);
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < bytes.length; i++) {
    lo ^= bytes[i];
    // (hi:lo) *= 0x100000001b3, modulo 2^64
    const low = (lo >>> 0) * 0x1b3;
    const carry = Math.floor(low / 0x100000000);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

function u32(value) {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

export async function buildSessionBundle(state) {
  const { identity, exportUrl, embeddingId, positions, colorBy, hiddenCategories, camera } = state;
  const chunks = [];
  async function add(id, contributorId, label, kind, raw) {
    const stored = await gzip(raw);
    chunks.push({
      meta: {
        id,
        contributorId,
        priority: "eager",
        kind,
        codec: "gzip",
        label,
        datasetDependent: true,
        storedBytes: stored.length,
        uncompressedBytes: raw.length,
      },
      stored,
    });
  }
  const json = (value) => encoder.encode(JSON.stringify(value));
  await add("core/state", "core-state", "Core state", "json", json({
    embedding: embeddingId,
    colorBy,
    hiddenCategories,
    camera,
  }));
  if (state.selection?.length) {
    await add("highlights/meta", "highlights", "Highlights", "json", json({
      groups: [{ id: "selection", label: "Selection", source: state.selectionSource, cellCount: state.selection.length }],
    }));
    await add("highlights/cells/selection", "highlights", "Selection", "binary", encodeCellSet(state.selection));
  }

  const item = identity.embeddings.items[embeddingId];
  const requires = { obs: [], var: [] };
  if (colorBy.kind === "gene") requires.var.push(colorBy.key);
  else if (colorBy.kind !== "none") requires.obs.push(colorBy.key);
  const manifest = {
    createdAt: new Date().toISOString(),
    datasetFingerprint: {
      datasetId: identity.id,
      name: identity.name,
      cellCount: identity.stats.n_cells,
      varCount: identity.stats.n_genes,
      cellOrder: {
        embedding: { key: item.source.key ?? embeddingId, columns: item.source.columns },
        dimension: item.dimension,
        digest: cellOrderDigest(positions),
      },
      dataMapping: null,
    },
    source: { kind: "remote", url: exportUrl, dataset: identity.id },
    requires,
    chunks: chunks.map((c) => c.meta),
  };
  const manifestBytes = encoder.encode(JSON.stringify(manifest));
  const parts = [encoder.encode(MAGIC), u32(manifestBytes.length), manifestBytes];
  for (const chunk of chunks) parts.push(u32(chunk.stored.length), chunk.stored);
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}
