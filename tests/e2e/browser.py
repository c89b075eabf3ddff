"""Helpers for driving the viewer page and reading real pixels back from screenshots."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from playwright.sync_api import Page

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
VIEWPORT = {"width": 1000, "height": 700}
PHONE = {"width": 390, "height": 844}
#: The viewer's reset 2D view maps the normalised [-1, 1] onto FIT of the canvas's smaller side.
FIT = 0.9
BACKGROUND = (255, 255, 255)
MISSING_GREY = (190, 190, 190)

_DECODE_PNG = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }),
    { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const data = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    text += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return [bitmap.width, bitmap.height, btoa(text)];
}"""


def open_viewer(page: Page, url: str, state: str = "ready") -> None:
    page.goto(url)
    page.wait_for_selector(f"body[data-state={state}]", timeout=30_000)
    settle(page)


def settle(page: Page) -> None:
    """Wait until no download is running and two more frames have been drawn."""
    page.wait_for_function("() => !document.body.hasAttribute('data-busy')")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def canvas_pixels(page: Page, decoder: Page, name: str) -> NDArray[np.uint8]:
    """Screenshot of the plot area (kept as an artefact) as RGB pixels, page-aligned."""
    png = page.locator("#plot").screenshot()
    (ARTIFACTS / f"{name}.png").write_bytes(png)
    width, height, b64 = decoder.evaluate(_DECODE_PNG, base64.b64encode(png).decode())
    rgba = np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(height, width, 4)
    return rgba[:, :, :3].copy()


def plot_box(page: Page) -> dict[str, float]:
    box = page.locator("#plot").bounding_box()
    assert box is not None
    return box


def to_screen(page: Page, xy: NDArray[np.float32]) -> NDArray[np.float64]:
    """Page CSS pixels of normalised 2D coordinates under the reset view."""
    box = plot_box(page)
    scale = FIT * min(box["width"], box["height"]) / 2
    return np.column_stack(
        [
            box["x"] + box["width"] / 2 + xy[:, 0].astype(np.float64) * scale,
            box["y"] + box["height"] / 2 - xy[:, 1].astype(np.float64) * scale,
        ]
    )


def inside_polygon(points: NDArray[np.float64], polygon: list[tuple[int, int]]) -> NDArray[Any]:
    """Indices of points strictly inside the polygon (even-odd rule, as the viewer)."""
    x, y = points[:, 0], points[:, 1]
    odd = np.zeros(len(points), dtype=bool)
    for (xa, ya), (xb, yb) in zip(polygon, polygon[-1:] + polygon[:-1], strict=True):
        crosses = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (xb - xa) * (y - ya) / (yb - ya) + xa
        odd ^= crosses & (x < at)
    return np.flatnonzero(odd)


def colour_mask(image: NDArray[np.uint8], rgb: tuple[int, int, int], tolerance: int = 6) -> Any:
    return (np.abs(image.astype(np.int16) - np.array(rgb)) <= tolerance).all(axis=2)


def u32_cells(body: bytes) -> list[int]:
    assert len(body) % 4 == 0
    return list(struct.unpack(f"<{len(body) // 4}I", body))


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def decode_cell_set(data: bytes) -> list[int]:
    """Cell-set encoding 0: a 0 byte, the count, the first index, the gaps (LEB128 varints)."""
    assert data[0] == 0
    count, pos = _uvarint(data, 1)
    cells: list[int] = []
    for i in range(count):
        delta, pos = _uvarint(data, pos)
        cells.append(delta if i == 0 else cells[-1] + delta)
    assert pos == len(data)
    return cells


def parse_session(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A ``.cellucid-session`` v2 file: its manifest and its chunks' decoded bytes, by id."""
    magic = b"CELLUCID_SESSION/2\n"
    assert data.startswith(magic)
    pos = len(magic)
    (length,) = struct.unpack_from("<I", data, pos)
    pos += 4
    manifest: dict[str, Any] = json.loads(data[pos : pos + length])
    pos += length
    chunks: dict[str, bytes] = {}
    for meta in manifest["chunks"]:
        (stored,) = struct.unpack_from("<I", data, pos)
        pos += 4
        assert stored == meta["storedBytes"]
        raw = data[pos : pos + stored]
        pos += stored
        if meta["codec"] == "gzip":
            raw = gzip.decompress(raw)
        assert len(raw) == meta["uncompressedBytes"]
        chunks[meta["id"]] = raw
    assert pos == len(data), "trailing bytes"
    return manifest, chunks


def fnv1a64(data: bytes) -> str:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"
