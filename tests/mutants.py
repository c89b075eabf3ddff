"""``make mutants``: break each documented guard on purpose, one line at a time, and check that
the tests named for it fail.

Every entry of :data:`MUTANTS` is one deliberate break of a guard that ``docs/security.md`` or
``docs/reliability.md`` promises: the exact text to replace in one file, what to replace it
with, and the tests that must catch it. The script copies the repository (tracked and
untracked files, as they are in this working tree) into a scratch folder, checks that the
chosen tests pass there unchanged, then applies each break alone, runs its tests and puts the
line back. A break whose tests still pass *survived*: a promise no test proves. A break whose
text is not exactly once in its file is *stale* (the code moved): the run stops before running
anything, until the entry points where the guard is now. The working tree itself is never
touched.

    .venv/bin/python -m tests.mutants            # every entry
    .venv/bin/python -m tests.mutants -k ttl     # entries whose name contains "ttl"
    .venv/bin/python -m tests.mutants --list

Exit status 0 only when every break was caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = "src/cellucid_cloud/"


@dataclass(frozen=True)
class Mutant:
    name: str
    """Short name: what the break removes."""
    path: str
    """File to break, relative to the repository root."""
    before: str
    """Exact text, found exactly once in the file."""
    after: str
    tests: tuple[str, ...]
    """pytest node ids that must fail."""


def _m(name: str, path: str, before: str, after: str, *tests: str) -> Mutant:
    return Mutant(name, path, before, after, tests)


SECURITY = "tests/integration/test_security.py"
ROBUSTNESS = "tests/integration/test_api_robustness.py"
LINKS = "tests/integration/test_link_limits.py"
WIRE = "tests/unit/test_event_wire.py"
S3 = "tests/integration/test_s3_storage.py"
CLOUD_EVENTS = "tests/integration/test_cloud_events.py"
SERVE = "tests/integration/test_serve_folder.py"
HOSTILE_REQUESTS = "tests/integration/test_hostile_requests.py"
HOSTILE = (
    "tests/integration/test_hostile_uploads.py::"
    "test_a_hostile_upload_fails_cleanly_and_the_published_version_serves_on"
)
QUOTAS = "tests/integration/test_session_bundle_quotas.py"
EVENT_STORES = "tests/contract/test_event_store.py"
UPLOAD_URLS = "tests/integration/test_upload_urls.py"
LIMITS = "tests/integration/test_processing_limits.py"
SECRETS = "tests/integration/test_secrets_out_of_sight.py"
PRIVATE = "tests/integration/test_private_data_dir.py"

MUTANTS: tuple[Mutant, ...] = (
    # -- Host check (DNS rebinding) -------------------------------------------------------------
    _m(
        "up: Host check skipped",
        SRC + "http/asgi.py",
        "if not host_allowed(host, self.allowed, ip_literals=self.allow_ip_hosts):",
        "if False:",
        f"{SECURITY}::test_other_host_names_are_421_on_every_kind_of_path",
    ),
    _m(
        "serve: Host check skipped",
        SRC + "serve/app.py",
        "if not host_allowed(host, self.allowed_hosts, ip_literals=self.allow_ip_hosts):",
        "if False:",
        f"{SERVE}::test_host_header_check",
    ),
    _m(
        "IP-literal Host accepted without a wildcard bind",
        SRC + "http/hosts.py",
        "    if not ip_literals:\n        return False",
        "    if ip_literals is None:\n        return False",
        "tests/unit/test_http_rules.py::test_host_allowed",
        f"{SECURITY}::test_other_host_names_are_421_on_every_kind_of_path",
    ),
    # -- traversal, declared files --------------------------------------------------------------
    _m(
        "encoded separators and dots not refused before decoding",
        SRC + "http/paths.py",
        "_FORBIDDEN_ENCODED.search(raw_path) or",
        "False or",
        "tests/unit/test_http_rules.py::test_split_request_path_refuses",
        f"{SECURITY}::test_traversal_is_refused_on_exports_viewer_and_explorer_paths",
    ),
    _m(
        "dot segments not refused",
        SRC + "http/paths.py",
        'if seg in ("", ".", "..") or',
        'if seg in ("",) or',
        "tests/unit/test_http_rules.py::test_split_request_path_refuses",
        f"{SECURITY}::test_traversal_is_refused_on_exports_viewer_and_explorer_paths",
    ),
    _m(
        "files the manifests do not declare served",
        SRC + "serve/sources.py",
        "wanted = manifests.declared_paths()",
        'wanted = {p.relative_to(self.root).as_posix() for p in self.root.rglob("*")}',
        f"{SERVE}::test_only_declared_files",
    ),
    _m(
        "files reached through a symlinked folder served",
        SRC + "serve/sources.py",
        "if not stat_mod.S_ISREG(st.st_mode) or not inside:",
        "if not stat_mod.S_ISREG(st.st_mode):",
        f"{SERVE}::test_a_declared_file_behind_a_symlinked_folder_is_not_served",
    ),
    # -- curators ------------------------------------------------------------------------------
    _m(
        "ownership not checked",
        SRC + "catalog/service.py",
        "if view.collection.owner != curator_id:",
        "if False:",
        f"{SECURITY}::test_another_curators_token_is_403_on_every_collection_route",
    ),
    _m(
        "ids not random (uuid1)",
        SRC + "catalog/models.py",
        "return str(uuid.uuid4())",
        "return str(uuid.uuid1())",
        f"{SECURITY}::test_private_ids_are_uuid4",
    ),
    _m(
        "tokens valid in their expiry second",
        SRC + "signed_tokens.py",
        'if claims["exp"] <= now:',
        'if claims["exp"] < now:',
        f"{SECURITY}::test_curator_tokens_live_one_hour_on_the_servers_clock",
        f"{SECURITY}::test_an_upload_url_works_until_its_last_second_on_the_servers_clock",
    ),
    _m(
        "token signatures not verified",
        SRC + "signed_tokens.py",
        'options={"require": ["exp", *require], "verify_exp": False, "verify_iat": False},',
        'options={"require": ["exp", *require], "verify_signature": False},',
        f"{SECURITY}::test_every_protected_route_refuses_missing_expired_and_forged_tokens",
    ),
    _m(
        "token audience not checked",
        SRC + "signed_tokens.py",
        'options={"require": ["exp", *require], "verify_exp": False, "verify_iat": False},',
        'options={"require": ["exp", *require], "verify_exp": False, "verify_aud": False},',
        f"{SECURITY}::test_every_protected_route_refuses_missing_expired_and_forged_tokens",
    ),
    _m(
        "a revoked key's tokens keep working",
        SRC + "api/auth.py",
        "if key_hash is not None and not self._key_valid(str(key_hash)):",
        "if False:",
        "tests/integration/test_lambda_events.py::"
        "test_a_revoked_keys_tokens_stop_working_within_a_minute",
    ),
    _m(
        "a revoked key's tokens work for 90 s",
        SRC + "api/auth.py",
        "KEY_CHECK_SECONDS = 30.0",
        "KEY_CHECK_SECONDS = 90.0",
        "tests/integration/test_lambda_events.py::"
        "test_a_revoked_keys_tokens_stop_working_within_a_minute",
    ),
    _m(
        "session bundles downloaded through the events function's response",
        SRC + "events/service.py",
        "                if url is not None:",
        "                if False:",
        f"{CLOUD_EVENTS}::test_a_bundle_of_any_size_downloads_within_lambdas_response_limit",
    ),
    _m(
        "curator tokens live 2 h on AWS",
        SRC + "api/auth.py",
        "token_ttl: int = 3600,",
        "token_ttl: int = 7200,",
        "tests/integration/test_lambda_events.py::test_curation_token",
    ),
    _m(
        "curator tokens live 2 h in up",
        SRC + "local/stack.py",
        "token_ttl: int = 3600",
        "token_ttl: int = 7200",
        f"{SECURITY}::test_curator_tokens_live_one_hour_on_the_servers_clock",
    ),
    # -- viewers -------------------------------------------------------------------------------
    _m(
        "viewer tokens compared with ==",
        SRC + "events/service.py",
        "if not hmac.compare_digest(viewer.token_hash, _token_hash(token)):",
        "if viewer.token_hash != _token_hash(token):",
        f"{SECURITY}::test_viewer_tokens_are_compared_in_constant_time",
    ),
    _m(
        "viewer lifetime cap one second lenient",
        SRC + "events/service.py",
        "if not 60 <= ttl <= MAX_VIEWER_TTL:",
        "if not 60 <= ttl <= MAX_VIEWER_TTL + 1:",
        f"{SECURITY}::test_viewers_live_24_hours_by_default_and_7_days_at_most",
    ),
    _m(
        "viewers may live 8 days",
        SRC + "events/service.py",
        "MAX_VIEWER_TTL = 7 * 24 * 3600",
        "MAX_VIEWER_TTL = 8 * 24 * 3600",
        f"{SECURITY}::test_viewers_live_24_hours_by_default_and_7_days_at_most",
    ),
    _m(
        "viewers live 48 h by default",
        SRC + "events/service.py",
        "DEFAULT_VIEWER_TTL = 24 * 3600",
        "DEFAULT_VIEWER_TTL = 48 * 3600",
        f"{SECURITY}::test_viewers_live_24_hours_by_default_and_7_days_at_most",
    ),
    _m(
        "up: a viewer valid in its expiry second",
        SRC + "events/sqlite_store.py",
        '"SELECT doc FROM viewers WHERE viewer_id = ? AND expires_at > ?"',
        '"SELECT doc FROM viewers WHERE viewer_id = ? AND expires_at >= ?"',
        "tests/contract/test_event_store.py::test_viewers_round_trip_and_expire",
        f"{SECURITY}::test_viewers_live_24_hours_by_default_and_7_days_at_most",
    ),
    _m(
        "AWS: a viewer valid in its expiry second",
        SRC + "events/dynamodb_store.py",
        'if item is None or int(item["expires_at"]["N"]) <= now:',
        'if item is None or int(item["expires_at"]["N"]) < now:',
        "tests/contract/test_event_store.py::test_viewers_round_trip_and_expire",
    ),
    # -- bounded bodies -------------------------------------------------------------------------
    _m(
        "api body: declared length not checked up front",
        SRC + "http/asgi.py",
        "if int(value) > self.max_bytes:",
        "if int(value) > self.max_bytes + 1:",
        f"{ROBUSTNESS}::test_an_oversized_declared_length_is_refused_before_the_body_is_sent",
    ),
    _m(
        "api body: a body of exactly the limit refused",
        SRC + "http/asgi.py",
        "if int(value) > self.max_bytes:",
        "if int(value) >= self.max_bytes:",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
    ),
    _m(
        "api body: streamed (chunked) bytes not counted",
        SRC + "http/asgi.py",
        'seen += len(message.get("body", b""))',
        "seen += 0",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
    ),
    _m(
        "api body: streamed count one byte lenient",
        SRC + "http/asgi.py",
        "if seen > self.max_bytes and not started:",
        "if seen > self.max_bytes + 1 and not started:",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
    ),
    _m(
        "viewer posts: streamed bytes one byte lenient",
        SRC + "api/events_routes.py",
        "check_size(size, cap)",
        "check_size(size, cap + 1)",
        f"{SECURITY}::test_binary_viewer_posts_over_the_limit_are_refused_before_the_rest_arrives",
    ),
    _m(
        "viewer posts: declared length one byte lenient",
        SRC + "api/events_routes.py",
        "check_size(int(declared), cap)",
        "check_size(int(declared), cap + 1)",
        f"{SECURITY}::test_binary_viewer_posts_over_the_limit_are_refused_before_the_rest_arrives",
    ),
    _m(
        "Lambda resolvers: bodies one byte over 1 MiB taken",
        SRC + "aws/resolver.py",
        "len(self.body()) > self.max_body_bytes",
        "len(self.body()) > self.max_body_bytes + 1",
        f"{CLOUD_EVENTS}::test_the_events_function_answers_as_the_api_routes_do",
    ),
    _m(
        "upload URL: declared length one byte over the cap taken",
        SRC + "local/uploads.py",
        "int(declared) > grant.max_bytes:",
        "int(declared) > grant.max_bytes + 1:",
        f"{SECURITY}::test_an_over_cap_upload_is_refused_before_its_body_is_sent",
    ),
    _m(
        "upload URL: streamed bytes one byte over the cap taken",
        SRC + "local/uploads.py",
        "if size > grant.max_bytes:",
        "if size > grant.max_bytes + 1:",
        f"{SECURITY}::test_the_upload_cap_is_enforced_at_the_limit",
    ),
    # -- upload URLs ---------------------------------------------------------------------------
    _m(
        "upload URLs live 16 minutes",
        SRC + "storage/upload_urls.py",
        "MAX_UPLOAD_EXPIRY = 15 * 60",
        "MAX_UPLOAD_EXPIRY = 16 * 60",
        f"{SECURITY}::test_upload_urls_expire_within_15_minutes",
        f"{S3}::test_an_upload_url_is_valid_for_its_one_length_key_and_15_minutes",
    ),
    _m(
        "presigned PUTs do not sign the length",
        SRC + "storage/s3.py",
        "ContentLength=size,",
        "",
        f"{S3}::test_an_upload_url_is_valid_for_its_one_length_key_and_15_minutes",
    ),
    _m(
        "presigned PUTs one byte over the cap",
        SRC + "storage/s3.py",
        "if size > limit:",
        "if size > limit + 1:",
        f"{S3}::test_upload_urls_need_the_declared_size_within_the_cap",
    ),
    # -- link ingestion (SSRF) -----------------------------------------------------------------
    _m(
        "links: every address public",
        SRC + "storage/link_fetch.py",
        "return address.is_global",
        "return True",
        "tests/unit/test_link_fetch.py::test_internal_and_odd_links_are_refused",
    ),
    _m(
        "links: credentials in the URL accepted",
        SRC + "storage/link_fetch.py",
        "if parts.username or parts.password:",
        "if False:",
        "tests/unit/test_link_fetch.py::test_internal_and_odd_links_are_refused",
    ),
    _m(
        "links: redirect hops not checked again",
        SRC + "storage/link_fetch.py",
        "_pinned(url, check_link(url, allow_private))",
        "_pinned(url, check_link(url, allow_private or _ > 0))",
        f"{SECURITY}::test_every_redirect_hop_of_a_link_is_checked_again",
    ),
    _m(
        "links: the connection not pinned to the checked address",
        SRC + "storage/link_fetch.py",
        "_pinned(url, check_link(url, allow_private))",
        "_pinned(url, check_link(url, allow_private) and None)",
        f"{SECURITY}::test_a_link_is_fetched_from_the_address_that_was_checked",
    ),
    _m(
        "links: https without SNI for the link's name",
        SRC + "storage/link_fetch.py",
        'extensions = {"sni_hostname": logical.host} if logical.scheme == "https" else {}',
        "extensions: dict[str, Any] = {}",
        f"{LINKS}::test_https_goes_to_the_checked_address_with_the_links_name",
    ),
    _m(
        "links: declared length over the cap not refused up front",
        SRC + "storage/link_fetch.py",
        "if declared.isdigit() and int(declared) > max_bytes:",
        "if False:",
        f"{LINKS}::test_a_declared_length_over_the_cap_is_refused_before_the_body",
    ),
    _m(
        "links: streamed bytes one byte over the cap taken",
        SRC + "storage/link_fetch.py",
        "if size > max_bytes:",
        "if size > max_bytes + 1:",
        f"{LINKS}::test_a_body_of_undeclared_length_is_cut_at_the_cap",
    ),
    _m(
        "links: six redirects",
        SRC + "storage/link_fetch.py",
        "MAX_REDIRECTS = 5",
        "MAX_REDIRECTS = 6",
        f"{LINKS}::test_five_redirects_are_followed_and_a_sixth_is_refused",
    ),
    _m(
        "links: one redirect fewer than the budget",
        SRC + "storage/link_fetch.py",
        "for _ in range(MAX_REDIRECTS + 1):",
        "for _ in range(MAX_REDIRECTS):",
        f"{LINKS}::test_five_redirects_are_followed_and_a_sixth_is_refused",
    ),
    _m(
        "links: no read timeout",
        SRC + "storage/link_fetch.py",
        "httpx.Client(timeout=timeout,",
        "httpx.Client(timeout=None,",
        f"{LINKS}::test_a_stalled_download_times_out",
    ),
    _m(
        "links: no deadline for the whole download",
        SRC + "storage/link_fetch.py",
        "if time.monotonic() > ends:",
        "if False:",
        f"{LINKS}::test_a_trickling_download_ends_at_its_deadline",
    ),
    # -- CORS, headers, secrets, binding ---------------------------------------------------------
    _m(
        "CORS granted to curation",
        SRC + "local/app.py",
        '    "/dp/",\n',
        '    "/dp/",\n    "/curation/",\n',
        f"{SECURITY}::test_cors_is_granted_to_public_reads_only",
    ),
    _m(
        "viewer page sends its URL (and token) as referrer",
        SRC + "viewer/__init__.py",
        '"Referrer-Policy": "same-origin",',
        '"Referrer-Policy": "unsafe-url",',
        "tests/unit/test_template.py::test_the_viewer_page_gets_the_headers_it_gets_locally",
    ),
    _m(
        "up's secret and curator key readable by others",
        SRC + "local/stack.py",
        "os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)",
        "os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)",
        "tests/integration/test_private_data_dir.py::test_the_keys_are_private_whatever_the_umask",
    ),
    _m(
        "up writes its data directory with the umask it was started with",
        SRC + "local/run.py",
        "    os.umask(PRIVATE_UMASK)",
        "    os.umask(0o022)",
        "tests/integration/test_private_data_dir.py::test_everything_up_writes_is_private",
    ),
    _m(
        "up binds all interfaces by default",
        SRC + "cli.py",
        '"127.0.0.1",\n    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,',
        '"0.0.0.0",\n    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,',
        f"{SECURITY}::test_up_and_serve_listen_on_loopback_only_by_default",
    ),
    # -- caching and revalidation ----------------------------------------------------------------
    _m(
        "no 304 for a matching ETag",
        SRC + "http/conditional.py",
        "if status == 200 and if_none_match(if_none_match_header, etag):",
        "if False:",
        f"{ROBUSTNESS}::test_a_cached_answer_revalidates_with_its_etag",
    ),
    _m(
        "If-None-Match compared strongly",
        SRC + "http/conditional.py",
        'tag.removeprefix("W/") == etag',
        "tag == etag",
        f"{ROBUSTNESS}::test_a_cached_answer_revalidates_with_its_etag",
    ),
    _m(
        "max-age the full TTL whatever is left",
        SRC + "catalog/meta.py",
        "return Cached(value, max(0, int(stored_at + self.ttl - self.clock())))",
        "return Cached(value, int(self.ttl))",
        "tests/unit/test_meta_cache.py",
    ),
    _m(
        "misses cached as long as hits",
        SRC + "catalog/meta.py",
        "_TtlCache(min(miss_ttl, ttl), clock, maxsize)",
        "_TtlCache(ttl, clock, maxsize)",
        "tests/unit/test_meta_cache.py",
    ),
    # -- the catalog ---------------------------------------------------------------------------
    _m(
        "withdrawn datasets not tombstoned",
        SRC + "catalog/publishing.py",
        "            tombstoned=True,\n            tombstone_contact=contact,",
        "            tombstone_contact=contact,",
        "tests/unit/test_catalog_service.py::test_publishing_a_revision_repoints_and_tombstones_together",
    ),
    _m(
        "a file dropped in the uploads folder is a new upload each time it is seen",
        SRC + "catalog/service.py",
        "            known = self.repo.get(Upload, upload_id)\n"
        "            if known is not None:\n"
        "                return known",
        "            known = self.repo.get(Upload, upload_id)\n"
        "            if False:\n"
        "                return known",
        "tests/integration/test_up_stack.py::test_first_start_restart_and_both_upload_paths",
    ),
    _m(
        "meta: a URL that names no id looked up as one",
        SRC + "catalog/urls.py",
        "return candidate if _ID.fullmatch(candidate) else None",
        "return candidate or None",
        f"{ROBUSTNESS}::test_odd_meta_urls_are_404_for_an_unknown_id_and_422_for_no_id",
    ),
    _m(
        "a published collection can be deleted",
        SRC + "catalog/service.py",
        "        view = self.open_version(curator_id, collection_or_version_id)\n"
        "        drafts = settled_many(",
        "        view = self.owned(curator_id, collection_or_version_id)\n"
        "        drafts = settled_many(",
        f"{ROBUSTNESS}::test_a_published_collection_cannot_be_deleted",
    ),
    _m(
        "a losing concurrent write told something vague",
        SRC + "catalog/service.py",
        '"the collection changed while this request ran (another request won); "',
        '"the collection changed while this request ran; "',
        "tests/integration/test_local_faults.py::"
        "test_racing_curators_get_409_or_their_change_never_a_lost_update",
    ),
    # -- session bundles -----------------------------------------------------------------------
    _m(
        "bundles read whole before checking",
        SRC + "events/bundle.py",
        "    reader = _Reader(stream)\n    version = _version(reader)",
        "    reader = _Reader(io.BytesIO(stream.read()))\n    version = _version(reader)",
        f"{WIRE}::test_a_large_bundle_is_checked_as_a_stream_in_bounded_memory",
    ),
    _m(
        "a gzip chunk decoding to more than it declares accepted",
        SRC + "events/bundle.py",
        "if size != declared:",
        "if size < declared:",
        f"{WIRE}::test_a_gzip_bomb_is_refused_without_inflating_it",
    ),
    _m(
        "JSON chunks one byte over 64 MiB taken",
        SRC + "events/bundle.py",
        "if is_json and declared > MAX_JSON_CHUNK_BYTES:",
        "if is_json and declared > MAX_JSON_CHUNK_BYTES + 1:",
        f"{WIRE}::test_gzip_chunks_decode_exactly_to_their_declared_size",
    ),
    _m(
        "up: an uploaded bundle held in memory to be stored",
        SRC + "events/service.py",
        "self.blobs.put(self.bundle_key(viewer, request_id), stream)",
        "self.blobs.put(self.bundle_key(viewer, request_id), stream.read())",
        f"{WIRE}::test_a_large_bundle_uploaded_locally_is_stored_in_bounded_memory",
    ),
    _m(
        "events function: a long poll waits on after an event arrived",
        SRC + "events/service.py",
        "            events, cursor = self.events_after(viewer, after)\n"
        "            if events or time.monotonic() >= deadline:",
        "            events, cursor = self.events_after(viewer, after)\n"
        "            if time.monotonic() >= deadline:",
        f"{CLOUD_EVENTS}::test_a_long_poll_returns_when_an_event_arrives",
    ),
    _m(
        "events function: long polls use the invocation's last seconds",
        SRC + "aws/events.py",
        "ANSWER_MARGIN = 2.0",
        "ANSWER_MARGIN = 0.0",
        f"{CLOUD_EVENTS}::test_a_long_poll_ends_before_the_invocation_does",
    ),
    # -- parsers of untrusted input (issue 15) -----------------------------------------------
    _m(
        "Range positions of any length given to int()",
        SRC + "http/ranges.py",
        "return 10**_MAX_DIGITS if len(significant) > _MAX_DIGITS else int(significant)",
        "return int(significant)",
        f"{HOSTILE_REQUESTS}::test_range_positions_past_the_int_limit",
    ),
    _m(
        "an explorer URL urlsplit cannot parse not caught",
        SRC + "catalog/urls.py",
        'except ValueError:  # "Invalid IPv6 URL"',
        'except TypeError:  # "Invalid IPv6 URL"',
        f"{HOSTILE_REQUESTS}::test_an_explorer_url_urlsplit_cannot_parse",
    ),
    _m(
        "events that cannot be served back (lone surrogates) accepted",
        SRC + "events/wire.py",
        '    text.encode("utf-8")  # lone surrogates',
        '    text.encode("utf-8", "surrogatepass")  # lone surrogates',
        f"{HOSTILE_REQUESTS}::test_event_json_that_could_not_be_served_back",
        f"{CLOUD_EVENTS}::test_the_events_function_refuses_what_it_could_not_serve_back",
    ),
    _m(
        "NaN and Infinity taken as JSON",
        SRC + "events/wire.py",
        "return json.loads(data, parse_constant=_no_constant)",
        "return json.loads(data)",
        f"{HOSTILE_REQUESTS}::test_event_json_that_could_not_be_served_back",
    ),
    _m(
        "event cursors past 64 bits",
        SRC + "events/service.py",
        "MAX_CURSOR_LENGTH = 18",
        "MAX_CURSOR_LENGTH = 20",
        f"{HOSTILE_REQUESTS}::test_a_cursor_past_64_bits",
    ),
    _m(
        "request ids a header cannot carry (non-ASCII letters)",
        SRC + "events/service.py",
        "or not all(c in _REQUEST_ID_CHARACTERS for c in request_id)",
        'or not all(c.isalnum() or c in "-_." for c in request_id)',
        f"{HOSTILE_REQUESTS}::test_a_request_id_a_header_cannot_carry",
    ),
    _m(
        "events larger than a DynamoDB item stored",
        SRC + "events/service.py",
        "MAX_STORED_EVENT_BYTES = 400_000",
        "MAX_STORED_EVENT_BYTES = 1_048_576",
        f"{HOSTILE_REQUESTS}::test_an_event_too_large_to_store_is_a_413",
        f"{CLOUD_EVENTS}::test_an_event_larger_than_a_dynamodb_item_is_a_413",
    ),
    # -- the rest of issue 15: processing, bundles, upload URLs, leftovers, modes, secrets -----
    _m(
        "processing without a memory limit",
        SRC + "local/prepare_process.py",
        "    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))",
        "    pass",
        f"{LIMITS}::test_over_the_memory_limit_the_version_fails_and_up_serves_on",
    ),
    _m(
        "a viewer stores one bundle over its count",
        SRC + "events/store.py",
        "if bundles >= quota.viewer_bundles:",
        "if bundles > quota.viewer_bundles:",
        f"{QUOTAS}::test_a_viewer_has_a_bundle_count_and_a_byte_quota",
        f"{EVENT_STORES}::test_bundle_quotas_count_per_viewer_and_per_day[sqlite]",
    ),
    _m(
        "AWS: a viewer stores one bundle over its count",
        SRC + "events/dynamodb_store.py",
        '" OR (bundle_count < :bundles AND bundle_bytes <= :room))",',
        '" OR (bundle_count <= :bundles AND bundle_bytes <= :room))",',
        f"{QUOTAS}::test_on_aws_the_events_function_keeps_the_same_quotas",
        f"{EVENT_STORES}::test_bundle_quotas_count_per_viewer_and_per_day[dynamodb]",
    ),
    _m(
        "no daily bundle quota",
        SRC + "events/store.py",
        "if day_bytes + size > quota.daily_bytes:",
        "if False:",
        f"{QUOTAS}::test_the_deployment_has_a_daily_quota",
    ),
    _m(
        "an expired viewer's bundles kept",
        SRC + "events/service.py",
        "            self.blobs.delete(key)",
        "            pass",
        f"{QUOTAS}::test_bundles_expire_with_their_viewer",
    ),
    _m(
        "local upload URLs take a body shorter than declared",
        SRC + "local/uploads.py",
        "if grant.exact and size != grant.max_bytes:",
        "if False:",
        f"{UPLOAD_URLS}::test_the_declared_size_is_the_exact_length",
    ),
    _m(
        "local upload URLs take more than one PUT",
        SRC + "local/uploads.py",
        "if not self.claims.claim(grant.token_id):",
        "if False:",
        f"{UPLOAD_URLS}::test_a_url_takes_one_put",
        f"{QUOTAS}::test_a_bundle_upload_url_takes_one_put",
    ),
    _m(
        "local upload URLs outlive their dataset",
        SRC + "local/uploads.py",
        "if refused is not None:",
        "if False:",
        f"{UPLOAD_URLS}::test_a_url_dies_with_its_dataset",
    ),
    _m(
        "AWS: a put for a replaced or removed upload processed",
        SRC + "catalog/service.py",
        "if collection_version.datasets.get(upload.dataset_id) != version.version_id:",
        "if False:",
        f"{UPLOAD_URLS}::test_on_aws_a_presigned_put_is_used_once_and_dies_with_its_dataset",
    ),
    _m(
        "half-written uploads kept at start",
        SRC + "local/stack.py",
        '        *(data / "uploads").rglob(".incoming-*"),',
        "",
        "tests/integration/test_local_faults.py::"
        "test_a_put_cut_off_by_a_kill_leaves_nothing_after_the_restart",
    ),
    _m(
        "a readable data directory left as it is",
        SRC + "local/permissions.py",
        "    path.chmod(stat.S_IMODE(mode) & 0o700)",
        "    path.chmod(stat.S_IMODE(mode))",
        f"{PRIVATE}::test_a_data_dir_left_readable_is_tightened_at_start",
    ),
    _m(
        "tokens in up's access log",
        SRC + "serve/access_log.py",
        'config["handlers"]["access"]["filters"] = ["redact_secrets"]',
        'config["handlers"]["access"]["filters"] = []',
        f"{SECRETS}::test_the_access_log_names_no_token",
    ),
    _m(
        "tokens inside a URL parameter logged",
        SRC + "serve/access_log.py",
        "REDACTED if name.lower() in SECRET_PARAMETERS else redact_target(value, depth - 1),",
        "REDACTED if name.lower() in SECRET_PARAMETERS else value,",
        f"{SECRETS}::test_the_access_log_names_no_token",
        f"{SECRETS}::test_redacted_targets",
    ),
    _m(
        "the meta answer names the data directory",
        SRC + "storage/filesystem.py",
        '        return f"/{key}"',
        "        return self.path(key).as_uri()",
        f"{SECRETS}::test_no_public_answer_names_a_path_of_the_server",
    ),
    _m(
        "the public collection document gives a failed version's reason as stored",
        SRC + "catalog/meta.py",
        "reason=version.reason if curator else public_reason(version),",
        "reason=version.reason,",
        "tests/integration/test_curator_sees_uploads.py::"
        "test_a_failed_versions_reason_reads_the_same_in_its_collection_and_its_meta",
    ),
    _m(
        "the viewer page asks meta about its whole address, token included",
        SRC + "viewer/static/app.js",
        "encodeURIComponent(`${location.origin}${location.pathname}`)",
        "encodeURIComponent(location.href)",
        "tests/e2e/test_viewer_sharing.py::"
        "test_viewer_credentials_stay_out_of_the_url_and_the_meta_lookup",
    ),
    # -- hostile uploads -----------------------------------------------------------------------
    _m(
        "HDF5 external links followed",
        SRC + "ingest/upload_checks.py",
        "if isinstance(link, h5py.ExternalLink):",
        "if False:",
        f"{HOSTILE}[hdf5-external-link]",
    ),
    _m(
        "zip members named ../ or /absolute",
        SRC + "ingest/upload_checks.py",
        'if "\\\\" in name or name.startswith("/") or ".." in PurePosixPath(name).parts:',
        "if False:",
        f"{HOSTILE}[zarr-path-traversal]",
        f"{HOSTILE}[zarr-absolute-member]",
    ),
    _m(
        "symbolic links in zips",
        SRC + "ingest/upload_checks.py",
        "if stat.S_ISLNK(member.external_attr >> 16):",
        "if False:",
        f"{HOSTILE}[zarr-symlink-member]",
    ),
    _m(
        "zip members inflating without bound",
        SRC + "ingest/upload_checks.py",
        "if inflated > SMALL + MAX_ZIP_EXPANSION * compressed:",
        "if False:",
        f"{HOSTILE}[zarr-zip-bomb]",
    ),
    _m(
        "the pickle codec allowed",
        SRC + "ingest/upload_checks.py",
        'if "pickle" in _codec_names(entry):',
        "if False:",
        f"{HOSTILE}[zarr-pickle-codec]",
    ),
    _m(
        "arrays may declare what they do not store",
        SRC + "ingest/upload_checks.py",
        "if self.unstored > self.unstored_allowed:",
        "if False:",
        f"{HOSTILE}[zarr-huge-declared-embedding]",
        f"{HOSTILE}[zarr-consolidated-v2-declares-2-gib]",
    ),
    _m(
        "consolidated metadata (v2 .zmetadata) not read",
        SRC + "ingest/upload_checks.py",
        '_METADATA = (".zarray", "zarr.json", ".zmetadata")',
        '_METADATA = (".zarray", "zarr.json")',
        f"{HOSTILE}[zarr-consolidated-v2-declares-2-gib]",
    ),
    _m(
        "arrays may declare more than 1,000 times the upload",
        SRC + "ingest/upload_checks.py",
        "if self.total > self.allowed:",
        "if False:",
        f"{HOSTILE}[zarr-bz2-bomb]",
    ),
    # -- reliability ---------------------------------------------------------------------------
    _m(
        "a version claimed a third time",
        SRC + "catalog/service.py",
        "MAX_ATTEMPTS = 2",
        "MAX_ATTEMPTS = 3",
        "tests/unit/test_processing_claims.py",
    ),
    _m(
        "a retry writes over the failed attempt's prefix",
        SRC + "catalog/processing.py",
        'return f"exports/{version_id}/" if attempt <= 1 else f"exports/{version_id}-{attempt}/"',
        'return f"exports/{version_id}/"',
        "tests/unit/test_processing_claims.py",
    ),
    _m(
        "an existing export folder overwritten",
        SRC + "storage/filesystem.py",
        "        if target.exists():\n            raise FileExistsError",
        "        if False:\n            raise FileExistsError",
        "tests/contract/test_object_store.py::test_an_existing_prefix_is_never_overwritten",
    ),
    _m(
        "an existing export prefix overwritten on S3",
        SRC + "storage/s3.py",
        "        if self._has_objects(prefix):\n            raise FileExistsError",
        "        if False:\n            raise FileExistsError",
        "tests/contract/test_object_store.py::test_an_existing_prefix_is_never_overwritten",
    ),
    _m(
        "a re-upload of the same bytes is one upload (S3 sequencer ignored)",
        SRC + "aws/s3_events.py",
        'put = obj.get("sequencer") or at',
        "put = at",
        "tests/unit/test_aws_events.py::test_the_same_bytes_put_again_later_are_another_upload",
        "tests/integration/test_cloud_faults.py::"
        "test_duplicate_and_out_of_order_events_give_one_export_per_object_version",
    ),
    _m(
        "failure reasons kept to 5,000 characters",
        SRC + "catalog/processing.py",
        "MAX_REASON = 500",
        "MAX_REASON = 5000",
        "tests/unit/test_processing_claims.py::test_a_long_reason_is_cut_to_one_short_line",
    ),
    _m(
        "a publish visible before its switch (staged mappings applied at once)",
        SRC + "catalog/publishing.py",
        'writes.append(Put(dataset.model_copy(update={"staged": mapping})))',
        'writes.append(Put(dataset.model_copy(update={"staged": mapping}).with_staged_applied()))',
        "tests/contract/test_catalog_publish_size.py::"
        "test_a_publish_stopped_before_its_switch_shows_nothing",
    ),
    _m(
        "readers ignore a switched publish's staged mappings",
        SRC + "catalog/publishing.py",
        "    if dataset.staged.collection_version_id in published:",
        "    if False:",
        "tests/contract/test_catalog_publish_size.py::"
        "test_a_publish_stopped_after_its_switch_is_public_whole",
    ),
    _m(
        "a store down after retries answers 500",
        SRC + "http/errors.py",
        'return error_answer(503, str(exc), **{"Retry-After": str(RETRY_AFTER_SECONDS)})',
        "return error_answer(500, str(exc))",
        "tests/integration/test_cloud_faults.py::"
        "test_the_functions_answer_a_json_503_while_dynamodb_is_down",
    ),
    _m(
        "a killed run's scratch folders kept",
        SRC + "local/stack.py",
        "        shutil.rmtree(leftover, ignore_errors=True)",
        "        pass",
        "tests/integration/test_local_faults.py::"
        "test_up_killed_mid_export_shows_nothing_partial_and_finishes_after_restart",
    ),
)


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    verdict: str
    """caught, survived or error."""
    seconds: float
    detail: str


def scratch_copy(destination: Path) -> None:
    """The working tree's files (tracked and untracked, ignored ones left out) under
    ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        source = ROOT / os.fsdecode(raw)
        if not source.is_file():  # deleted in the working tree
            continue
        target = destination / os.fsdecode(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def scratch_env(scratch: Path) -> dict[str, str]:
    """The scratch copy's sources first on the path (ahead of the editable install), for the
    test process and every process it starts; no bytecode caches, so each break is compiled."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(scratch / "src"), str(scratch)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_tests(scratch: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    env = scratch_env(scratch)
    return subprocess.run(
        command, cwd=scratch, env=env, capture_output=True, text=True, check=False
    )


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            test = line.split(" ", 1)[1].split(" - ")[0]
            name, bracket, params = test.partition("[")
            return name + (bracket + params if len(params) <= 40 else "[…]")
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


def check_imports(scratch: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import cellucid_cloud, tests; print(cellucid_cloud.__file__)"],
        cwd=scratch,
        env=scratch_env(scratch),
        capture_output=True,
        text=True,
        check=True,
    )
    imported = Path(probe.stdout.strip())
    if not imported.is_relative_to(scratch):
        raise SystemExit(f"the scratch copy is not what runs: cellucid_cloud from {imported}")


def stale(root: Path, chosen: list[Mutant]) -> list[Mutant]:
    """The breaks whose text is not exactly once in its file under ``root`` (printed), checked
    before anything runs: a guard that moved must fail the run, not be skipped."""
    found = []
    for mutant in chosen:
        path = root / mutant.path
        count = path.read_text().count(mutant.before) if path.is_file() else 0
        if count != 1:
            print(f"stale: {mutant.name} ({mutant.path}: the text is there {count} times)")
            found.append(mutant)
    print(f"{len(chosen) - len(found)} of {len(chosen)} breaks apply", flush=True)
    return found


def try_mutant(scratch: Path, mutant: Mutant) -> Result:
    path = scratch / mutant.path
    original = path.read_text()
    path.write_text(original.replace(mutant.before, mutant.after))
    started = time.monotonic()
    try:
        run = run_tests(scratch, mutant.tests)
    finally:
        path.write_text(original)
    seconds = time.monotonic() - started
    if run.returncode == 0:
        return Result(mutant, "survived", seconds, "")
    if run.returncode == 1:
        return Result(mutant, "caught", seconds, first_failure(run.stdout))
    return Result(mutant, "error", seconds, first_failure(run.stdout + run.stderr))


def report(results: list[Result]) -> str:
    lines = ["| # | break | file | verdict | caught by | s |", "|---:|---|---|---|---|---:|"]
    for index, result in enumerate(results, 1):
        file = result.mutant.path.removeprefix(SRC)
        lines.append(
            f"| {index} | {result.mutant.name} | `{file}` | {result.verdict} | "
            f"{result.detail.removeprefix('tests/')} | {result.seconds:.0f} |"
        )
    counts = {v: sum(r.verdict == v for r in results) for v in ("caught", "survived")}
    others = len(results) - counts["caught"] - counts["survived"]
    lines.append("")
    lines.append(
        f"{counts['caught']} caught, {counts['survived']} survived"
        + (f", {others} errors" if others else "")
        + f" of {len(results)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-k", action="append", default=[], help="only breaks whose name contains this (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the breaks and stop")
    parser.add_argument(
        "--check", action="store_true", help="only check that every break still applies"
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.k or any(k.lower() in m.name.lower() for k in args.k)]
    if not chosen:
        print(f"no break's name contains {' or '.join(map(repr, args.k))}")
        return 2
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}  ({mutant.path})")
        return 0
    if args.check:
        return 1 if stale(ROOT, chosen) else 0
    with tempfile.TemporaryDirectory(prefix="cellucid-mutants-") as tmp:
        scratch = Path(tmp)
        scratch_copy(scratch)
        check_imports(scratch)
        if stale(scratch, chosen):
            print("a stale break proves nothing: point it at where its guard is now")
            return 1
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        print(f"baseline: {len(tests)} test selections, unchanged code", flush=True)
        baseline = run_tests(scratch, tests)
        if baseline.returncode != 0:
            print(baseline.stdout[-5000:], baseline.stderr[-2000:])
            print("the chosen tests fail on the unchanged code; fix that first")
            return 2
        results = []
        for mutant in chosen:
            result = try_mutant(scratch, mutant)
            print(f"{result.verdict:>8}  {result.seconds:5.0f} s  {mutant.name}", flush=True)
            results.append(result)
    print()
    print(report(results))
    return 0 if all(r.verdict == "caught" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
