"""The meta function: the public, read-only routes every page load hits (meta lookups,
collections, ``datasets.json``, ``/_cellucid/health|info|datasets``, downloads), on Powertools'
HTTP API resolver.

Without FastAPI its cold start is a fraction of the API function's (docs/benchmarks.md, "Meta
function cold start"). The answers, their cache headers and their 4xx are
:mod:`cellucid_cloud.api.public`'s and :mod:`cellucid_cloud.http`'s, which the FastAPI
routes use as well; ``tests/integration/test_cloud_meta.py`` sends the same HTTP API events to
both functions and compares the answers. Nothing here reaches AWS before the first request:
the boto3 clients are made on first use (:func:`cellucid_cloud.aws.services.aws_ports`).
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from mangum.handlers.utils import get_server_and_port
from pydantic import BaseModel

from cellucid_cloud import package_version
from cellucid_cloud.api import public
from cellucid_cloud.api.public import (
    META_PATHS,
    CollectionQuery,
    FileAnswer,
    MetaQuery,
    PublicId,
)
from cellucid_cloud.aws.config import SiteSettings
from cellucid_cloud.aws.resolver import HttpRoutes, lambda_response
from cellucid_cloud.aws.services import aws_ports, site
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.core.ports import OriginalDownloads
from cellucid_cloud.core.services import build_services
from cellucid_cloud.http.answers import json_answer

__all__ = ["meta_app", "meta_resolver"]

Answer = Response[Any]


class _CollectionPath(BaseModel):
    collection_id: PublicId


class _DatasetPath(BaseModel):
    dataset_id: PublicId


def meta_resolver(
    meta: MetaService, downloads: OriginalDownloads, mode: str = "aws"
) -> APIGatewayHttpResolver:
    """The routes of :mod:`cellucid_cloud.api.meta_routes` and ``cellucid_routes``."""
    routes = HttpRoutes()
    route, query, path = routes.route, routes.query, routes.path
    server_version = package_version()

    def if_none_match() -> str | None:
        return routes.header("if-none-match")

    def lookup() -> Answer:
        url = query(MetaQuery).url
        return lambda_response(public.meta(meta, url, if_none_match()))

    for meta_path in META_PATHS:
        route("GET", meta_path)(lookup)

    @route("GET", "/dp/v1/collections")
    def collections() -> Answer:
        return lambda_response(public.collections(meta, if_none_match()))

    @route("GET", "/dp/v1/collections/<collection_id>")
    def collection(collection_id: str) -> Answer:
        checked, _ = routes.path_and_query(
            _CollectionPath, CollectionQuery, collection_id=collection_id
        )
        return lambda_response(public.collection(meta, checked.collection_id, if_none_match()))

    @route("GET", "/datasets.json")
    def datasets_json() -> Answer:
        return lambda_response(public.datasets_json(meta, if_none_match()))

    @route("GET", "/dp/v1/datasets/<dataset_id>/download")
    @route("HEAD", "/dp/v1/datasets/<dataset_id>/download")
    def download(dataset_id: str) -> Answer:
        dataset_id = path(_DatasetPath, dataset_id=dataset_id).dataset_id
        answer = public.download(meta, downloads, dataset_id)
        if isinstance(answer, FileAnswer):  # only a filesystem store serves files itself
            answer.found.file.close()
            raise TypeError("the meta function hands out originals by presigned URL only")
        return lambda_response(answer)

    @route("GET", "/_cellucid/health")
    def health() -> Answer:
        return lambda_response(json_answer(public.health(server_version)))

    @route("GET", "/_cellucid/info")
    def info() -> Answer:
        headers = {name.lower(): value for name, value in routes.app.current_event.headers.items()}
        host, port = get_server_and_port(headers)  # what Mangum tells the API function
        return lambda_response(json_answer(public.info(server_version, host, port, mode)))

    @route("GET", "/_cellucid/datasets")
    def cellucid_datasets() -> Answer:
        return lambda_response(public.cellucid_datasets(meta, if_none_match()))

    return routes.app


@functools.cache
def meta_app() -> APIGatewayHttpResolver:
    """The meta function's resolver over the catalog table and the buckets, built once per
    container; its boto3 clients are made by the first request that needs them."""
    settings = SiteSettings.from_env()
    ports = aws_ports(settings)
    return meta_resolver(build_services(ports, site(settings)).meta, ports.downloads)
