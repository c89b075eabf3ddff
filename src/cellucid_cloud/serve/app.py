"""The ASGI application serving :class:`ServedDatasets` the way a CDN serves an export (DESIGN §3).

Routes (GET and HEAD; OPTIONS answers CORS preflights; anything else is 405):

* ``/`` — an HTML index of the datasets; ``/datasets.json`` — the Cellucid catalog;
* ``/_cellucid/health``, ``/_cellucid/info``, ``/_cellucid/datasets`` — as the Cellucid server;
* the files a dataset declares, and nothing else (404 even if the file exists on disk).

Export files are immutable, so they carry a strong ETag and ``immutable`` caching; catalog
documents are ``no-cache``. ``.gz`` payloads go out as raw bytes without ``Content-Encoding``:
the viewer gunzips them itself.
"""

from __future__ import annotations

import html
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cellucid_cloud import package_version
from cellucid_cloud.catalog.documents import as_json
from cellucid_cloud.export.manifests import IDENTITY_FILE
from cellucid_cloud.http.asgi import request_segments
from cellucid_cloud.http.codings import accepts_gzip, gzip_etag
from cellucid_cloud.http.conditional import if_none_match, if_range
from cellucid_cloud.http.cors import ALLOWED_METHODS, PREFLIGHT_HEADERS, PUBLIC_READ_HEADERS
from cellucid_cloud.http.hosts import DEFAULT_ALLOWED_HOSTS, host_allowed, host_name, refusal
from cellucid_cloud.http.ranges import UNSATISFIABLE, content_range, parse_range
from cellucid_cloud.serve.datasets import ServedDatasets
from cellucid_cloud.serve.sources import ExportSource, FileChangedError, PayloadError

__all__ = ["ServeApp", "file_response"]

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
CORS = {**PUBLIC_READ_HEADERS, "X-Content-Type-Options": "nosniff"}
"""Every answer is a public read: CORS everywhere (and no content sniffing)."""


def _json(status: int, body: object, cache: str = NO_CACHE, **headers: str) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/json",
        headers={**CORS, "Cache-Control": cache, **headers},
    )


def _error(status: int, message: str, **headers: str) -> Response:
    return _json(status, {"error": message}, **headers)


def _content_type(path: str) -> str:
    return "application/json" if path.endswith(".json") else "application/octet-stream"


class ServeApp:
    """ASGI callable; one instance per server. Framework routing is deliberately not used, so
    that path checks run on the raw request target before any decoding or normalisation."""

    def __init__(
        self,
        served: ServedDatasets,
        *,
        allowed_hosts: list[str] | None = None,
        allow_ip_hosts: bool = False,
    ) -> None:
        self.served = served
        self.allowed_hosts = frozenset(
            host_name(h)
            for h in (allowed_hosts if allowed_hosts is not None else DEFAULT_ALLOWED_HOSTS)
        )
        self.allow_ip_hosts = allow_ip_hosts
        self.version = package_version()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        response = await self._handle(Request(scope, receive), scope)
        await response(scope, receive, send)

    async def _handle(self, request: Request, scope: Scope) -> Response:
        host = request.headers.get("host")
        if not host_allowed(host, self.allowed_hosts, ip_literals=self.allow_ip_hosts):
            return _error(421, refusal(host))
        method = request.method
        if method == "OPTIONS":
            return Response(status_code=204, headers={**CORS, **PREFLIGHT_HEADERS})
        if method not in ("GET", "HEAD"):
            allowed = ", ".join(ALLOWED_METHODS)
            return _error(405, f"method {method} not allowed", Allow=allowed)

        segments = request_segments(scope)
        if segments is None:
            return _error(400, "invalid path")

        response = self._route(segments, scope)
        if response is None:
            resolved = self.served.resolve(segments)
            if resolved is None:
                return _error(404, "not found")
            response = await file_response(request, *resolved)
        if method == "HEAD":  # headers (Content-Length included) as for GET, no body
            response.body = b""
        return response

    def _route(self, segments: list[str], scope: Scope) -> Response | None:
        match segments:
            case []:
                return Response(
                    self._index_html(),
                    media_type="text/html",
                    headers={**CORS, "Cache-Control": NO_CACHE},
                )
            case ["datasets.json"]:
                return _json(200, as_json(self.served.datasets_json()))
            case ["_cellucid", "health"]:
                return _json(200, {"status": "ok", "type": "exported", "version": self.version})
            case ["_cellucid", "info"]:
                host, port = scope.get("server") or ("", None)
                return _json(
                    200,
                    {"version": self.version, "host": host, "port": port, "mode": "standalone"},
                )
            case ["_cellucid", "datasets"]:
                datasets = [
                    {"id": m.source.dataset_id, "path": m.url_path, "name": m.source.name}
                    for m in self.served.datasets
                ]
                return _json(200, {"datasets": datasets})
            case ["_cellucid", *_]:
                return _error(404, "not found")
        return None

    def _index_html(self) -> str:
        esc = html.escape
        rows = "\n".join(_index_row(m.url_path, m.source) for m in self.served.datasets)
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cellucid-cloud exports</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}
td,th{{padding:.3rem .8rem;text-align:left}}</style>
</head><body>
<h1>cellucid-cloud exports</h1>
<p>Catalog: <a href="/datasets.json">datasets.json</a> &middot; server {esc(self.version)}.
Open in the Cellucid web app with <code>?exportsBaseUrl=</code> this server's URL.</p>
<table><thead><tr><th>Name</th><th>Id</th><th>Cells</th><th>Genes</th><th>Files</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def _index_row(url_path: str, source: ExportSource) -> str:
    esc = html.escape
    links = {
        "identity": url_path + IDENTITY_FILE,
        "obs": url_path + "obs_manifest.json",
        "var": url_path + "var_manifest.json",
    }
    declared = source.declared_paths()
    cells: list[object] = [
        esc(source.name),
        f"<code>{esc(source.dataset_id)}</code>",
        source.n_cells,
        source.n_genes,
        " ".join(
            f'<a href="{esc(href, quote=True)}">{label}</a>'
            for label, href in links.items()
            if href.removeprefix(url_path) in declared
        ),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


async def file_response(request: Request, source: ExportSource, path: str) -> Response:
    """One declared export file: strong ETag, 304, single ranges, immutable caching, and
    ``Content-Encoding: gzip`` where the source offers it and the client accepts it."""
    try:
        return await _file_response(request, source, path)
    except FileNotFoundError:
        return _error(404, "not found")
    except FileChangedError as exc:
        return _error(409, f"export file changed since the server started: {exc}")
    except PayloadError as exc:
        return _error(422, str(exc))


async def _file_response(request: Request, source: ExportSource, path: str) -> Response:
    info = await run_in_threadpool(source.stat, path)
    headers: dict[str, str] = {
        **CORS,
        "Content-Type": _content_type(path),
        "ETag": info.etag,
        "Cache-Control": IMMUTABLE,
        "Accept-Ranges": "bytes",
    }
    range_header = request.headers.get("range")
    if info.gzip:
        headers["Vary"] = "Accept-Encoding"
        if range_header is None and accepts_gzip(request.headers.get("accept-encoding")):
            body = await run_in_threadpool(source.gzipped, path)
            if body is not None:
                headers["ETag"] = gzip_etag(info.etag)
                headers["Content-Encoding"] = "gzip"
                return _whole(request, headers, body)
    if if_none_match(request.headers.get("if-none-match"), info.etag):
        del headers["Content-Type"]
        return Response(status_code=304, headers=headers)

    wanted = parse_range(range_header, info.size)
    if not if_range(request.headers.get("if-range"), info.etag):
        wanted = None  # a stale partial copy: send it all
    if wanted == UNSATISFIABLE:
        return _error(416, "range not satisfiable", **{"Content-Range": f"bytes */{info.size}"})
    status, (start, stop) = (200, (0, info.size)) if wanted is None else (206, wanted)
    if status == 206:
        headers["Content-Range"] = content_range(start, stop, info.size)
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    chunks = await run_in_threadpool(source.read, path, start, stop)
    return StreamingResponse(chunks, status_code=status, headers=headers)


def _whole(request: Request, headers: dict[str, str], body: bytes) -> Response:
    """A whole encoded representation (never ranged: ranges apply to the bytes as they are)."""
    if if_none_match(request.headers.get("if-none-match"), headers["ETag"]):
        del headers["Content-Type"]
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(len(body))
    return Response(b"" if request.method == "HEAD" else body, headers=headers)
