"""template.yaml: what the deployment promises, checked on the template and on SAM's translation.

The translation (aws-sam-translator, offline) is what CloudFormation deploys: the roles, the
event source mapping and the HTTP API exist only there. ``infra/lint_template.py`` does the
translating and the linting; the first test runs it, so a template that cfn-lint rejects (a
dependency cycle, a bad property) fails ``make test``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement

from cellucid_cloud.catalog.dynamodb_repository import (
    ATTRIBUTE_DEFINITIONS,
    GLOBAL_SECONDARY_INDEXES,
    KEY_SCHEMA,
)
from cellucid_cloud.catalog.service import MAX_ATTEMPTS
from cellucid_cloud.events.service import MAX_VIEWER_TTL
from cellucid_cloud.http.cors import EXPOSED_HEADERS

ROOT = Path(__file__).resolve().parents[2]
PAGES_REWRITE = ROOT / "infra" / "cloudfront" / "pages-rewrite.js"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CORS_S3_ORIGIN = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
CONTRACT_ENV = {
    "CATALOG_TABLE",
    "IDEMPOTENCY_TABLE",
    "UPLOADS_BUCKET",
    "EXPORTS_BUCKET",
    "PUBLIC_BASE_URL",
    "TOKEN_SECRET_ARN",
    "META_TTL",
    "MAX_UPLOAD_BYTES",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
# X-Ray's write actions support no resource-level permissions: "*" is the only resource.
STAR_RESOURCE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

Template = dict[str, Any]


@pytest.fixture(scope="module")
def lint_template() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_template", ROOT / "infra/lint_template.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template(lint_template: ModuleType) -> Template:
    loaded: Template = lint_template.load_template()
    return loaded


@pytest.fixture(scope="module")
def translated(lint_template: ModuleType, template: Template) -> Template:
    result: Template = lint_template.translate(template)
    return result


def of_type(template: Template, kind: str) -> dict[str, Template]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def props(template: Template, name: str) -> Template:
    properties: Template = template["Resources"][name]["Properties"]
    return properties


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def bucket_policy(template: Template, bucket: str) -> list[Template]:
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    statements: list[Template] = policy
    return statements


def test_template_translates_and_lints_clean(lint_template: ModuleType) -> None:
    assert lint_template.check() == []


def test_session_bundles_expire_after_their_longest_lived_viewer(template: Template) -> None:
    """Issue 15, finding 4: bundles used to stay forever; their records expire with the
    viewer (DynamoDB TTL), the bytes by this rule, a day after the longest viewer life."""
    rules = of_type(template, "AWS::S3::Bucket")["SessionsBucket"]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    (expiry,) = [rule for rule in rules if "ExpirationInDays" in rule]
    assert expiry["Status"] == "Enabled" and "Filter" not in expiry and "Prefix" not in expiry
    assert (expiry["ExpirationInDays"] - 1) * 86400 == MAX_VIEWER_TTL


def test_buckets_are_private_encrypted_and_tls_only(template: Template) -> None:
    buckets = of_type(template, "AWS::S3::Bucket")
    assert set(buckets) == {"UploadsBucket", "ExportsBucket", "SessionsBucket"}
    for name, bucket in buckets.items():
        p = bucket["Properties"]
        assert p["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        assert {"Id", "Status", "AbortIncompleteMultipartUpload"} <= set(
            p["LifecycleConfiguration"]["Rules"][0]
        )
        assert bucket["DeletionPolicy"] == "Retain", f"{name} holds data a stack delete must keep"
        deny = [s for s in bucket_policy(template, name) if s["Effect"] == "Deny"]
        assert deny == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [
                    {"Fn::GetAtt": [name, "Arn"]},
                    {"Fn::Sub": f"${{{name}.Arn}}/*"},
                ],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]


def test_no_bucket_or_queue_policy_allows_a_public_principal(template: Template) -> None:
    policies = [
        *of_type(template, "AWS::S3::BucketPolicy").values(),
        *of_type(template, "AWS::SQS::QueuePolicy").values(),
    ]
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                principal = statement["Principal"]
                assert isinstance(principal, dict) and set(principal) == {"Service"}
                assert statement.get("Condition"), "a service principal scoped to our resource"


def test_exports_are_readable_only_through_this_distribution(template: Template) -> None:
    (allow,) = [s for s in bucket_policy(template, "ExportsBucket") if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == [
        {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"},
        {"Fn::Sub": "${ExportsBucket.Arn}/viewer/*"},
        {"Fn::Sub": "${ExportsBucket.Arn}/portal/*"},
    ]
    assert allow["Condition"] == {
        "StringEquals": {
            "AWS:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}"
                ":distribution/${Distribution}"
            }
        }
    }
    oac = props(template, "ExportsOriginAccessControl")["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3"
    assert (oac["SigningBehavior"], oac["SigningProtocol"]) == ("always", "sigv4")
    origins = props(template, "Distribution")["DistributionConfig"]["Origins"]
    (exports,) = [o for o in origins if o["Id"] == "exports"]
    assert exports["DomainName"] == {"Fn::GetAtt": ["ExportsBucket", "RegionalDomainName"]}
    assert exports["OriginAccessControlId"] == {"Fn::GetAtt": ["ExportsOriginAccessControl", "Id"]}
    assert exports["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_catalog_table_declares_the_repository_keys(template: Template) -> None:
    table = props(template, "CatalogTable")
    assert table["KeySchema"] == KEY_SCHEMA
    assert table["AttributeDefinitions"] == ATTRIBUTE_DEFINITIONS
    assert table["GlobalSecondaryIndexes"] == GLOBAL_SECONDARY_INDEXES
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert template["Resources"]["CatalogTable"]["DeletionPolicy"] == "Retain"


def test_idempotency_table_has_the_powertools_schema(template: Template) -> None:
    table = props(template, "IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


FUNCTIONS = {
    "PrepareFunction": "PrepareRole",
    "ApiFunction": "ApiRole",
    "EventsFunction": "EventsRole",
    "MetaFunction": "MetaRole",
    "SessionsFunction": "SessionsRole",
    "ExportPlanFunction": "ExportPlanRole",
    "ExportRowBlocksFunction": "ExportRowBlocksRole",
    "ExportGeneBlocksFunction": "ExportGeneBlocksRole",
    "ExportFinalizeFunction": "ExportFinalizeRole",
}
STATE_MACHINE_ROLES = {"ExportStateMachineRole"}
EXPORT_STEPS = {
    "ExportPlanFunction": "app.plan",
    "ExportRowBlocksFunction": "app.row_blocks",
    "ExportGeneBlocksFunction": "app.gene_blocks",
    "ExportFinalizeFunction": "app.finalize",
}
"""The distributed export's functions: one code folder, one handler each."""


def test_function_roles_name_their_resources(translated: Template) -> None:
    roles = of_type(translated, "AWS::IAM::Role")
    assert set(roles) == set(FUNCTIONS.values()) | STATE_MACHINE_ROLES, "no SAM-generated roles"
    functions = of_type(translated, "AWS::Lambda::Function")
    assert {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()} == set(
        FUNCTIONS.values()
    )
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = as_list(statement["Action"])
                assert statement["Effect"] == "Allow"
                assert not any(a == "*" or a.endswith(":*") for a in actions), statement
                if "*" in as_list(statement["Resource"]):
                    assert set(actions) <= STAR_RESOURCE_ACTIONS, (name, statement)


def statements(template: Template, role: str) -> dict[str, Template]:
    (policy,) = props(template, role)["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_write_access_is_where_each_function_writes(template: Template) -> None:
    prepare = statements(template, "PrepareRole")
    assert prepare["WriteExports"]["Resource"] == {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"}
    assert prepare["ReadUploads"]["Action"] == "s3:GetObject"
    # Partial exports of failed attempts only: the same exports/* prefix, no other bucket.
    assert prepare["DiscardPartialExports"]["Action"] == "s3:DeleteObject"
    assert prepare["DiscardPartialExports"]["Resource"] == prepare["WriteExports"]["Resource"]
    assert "dynamodb:DeleteItem" not in prepare["Catalog"]["Action"]
    assert prepare["StoreLinkDownloads"]["Resource"] == [
        {"Fn::Sub": "${UploadsBucket.Arn}/*.h5ad"},
        {"Fn::Sub": "${UploadsBucket.Arn}/*.zarr.zip"},
    ]
    api = statements(template, "ApiRole")
    assert api["QueueLinkDownloads"] == {
        "Sid": "QueueLinkDownloads",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": {"Fn::GetAtt": ["PrepareQueue", "Arn"]},
    }
    assert api["PresignUploads"] == {
        "Sid": "PresignUploads",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "Resource": {"Fn::Sub": "${UploadsBucket.Arn}/*"},
    }
    # Public datasets' originals: checked (HeadObject) and handed out by presigned GET.
    assert api["PresignDownloads"]["Action"] == "s3:GetObject"
    assert api["PresignDownloads"]["Resource"] == {"Fn::Sub": "${UploadsBucket.Arn}/*"}
    assert api["CatalogListings"]["Resource"] == {"Fn::Sub": "${CatalogTable.Arn}/index/*"}
    assert api["TokenSecret"]["Resource"] == {"Ref": "TokenSecret"}
    # TransactWriteItems has no IAM action of its own: its Puts and Deletes are authorised.
    everything = [
        a
        for role in FUNCTIONS.values()
        for s in statements(template, role).values()
        for a in as_list(s["Action"])
    ]
    assert "dynamodb:TransactWriteItems" not in everything
    assert "dynamodb:Scan" not in everything


def test_uploads_reach_prepare_through_sqs_with_a_dead_letter_queue(
    template: Template, translated: Template
) -> None:
    queue = props(template, "PrepareQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["PrepareDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    assert MAX_ATTEMPTS < 3  # the last delivery gives up a version whose worker kept dying
    timeout = props(template, "PrepareFunction")["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    notifications = props(template, "UploadsBucket")["NotificationConfiguration"]
    suffixes = {
        rule["Value"]
        for config in notifications["QueueConfigurations"]
        for rule in config["Filter"]["S3Key"]["Rules"]
        if config["Event"] == "s3:ObjectCreated:*"
        and config["Queue"] == {"Fn::GetAtt": ["PrepareQueue", "Arn"]}
    }
    assert suffixes == {".h5ad", ".zarr.zip"}
    (mapping,) = of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["PrepareQueue", "Arn"]}
    assert mapping["Properties"]["FunctionName"] == {"Ref": "PrepareFunction"}
    assert mapping["Properties"]["BatchSize"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_queue_policy_names_the_uploads_bucket_without_a_cycle(template: Template) -> None:
    name = props(template, "UploadsBucket")["BucketName"]["Fn::Sub"]
    (allow,) = [
        s
        for s in props(template, "PrepareQueuePolicy")["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}"
    }
    assert template["Resources"]["UploadsBucket"]["DependsOn"] == "PrepareQueuePolicy"


def test_events_and_sessions_touch_only_viewer_items_and_session_bundles(
    template: Template,
) -> None:
    """Their DynamoDB writes are confined to viewer partitions (pk viewer#<id>) and their S3
    access to sessions/ of the sessions bucket; only the events function reads the catalog."""
    sessions_arn = (
        "arn:${AWS::Partition}:s3:::" + props(template, "SessionsBucket")["BucketName"]["Fn::Sub"]
    )
    viewer_only = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["viewer#*"]}}
    for role in ("EventsRole", "SessionsRole"):
        granted = statements(template, role)
        for sid, statement in granted.items():
            dynamodb = [a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")]
            if dynamodb and dynamodb != ["dynamodb:GetItem"]:
                assert statement.get("Condition") == viewer_only, (role, sid)
        assert {
            a for s in granted.values() for a in as_list(s["Action"]) if a.startswith("dynamodb:")
        } == {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:Query",
        }
    events = statements(template, "EventsRole")
    assert events["CatalogRead"]["Action"] == "dynamodb:GetItem"
    assert events["SessionBundles"]["Action"] == ["s3:PutObject", "s3:GetObject"]
    assert events["SessionBundles"]["Resource"] == {"Fn::Sub": "${SessionsBucket.Arn}/sessions/*"}
    sessions = statements(template, "SessionsRole")
    assert sessions["SessionUploads"]["Action"] == ["s3:GetObject", "s3:DeleteObject"]
    assert sessions["SessionUploads"]["Resource"] == {"Fn::Sub": f"{sessions_arn}/sessions/*"}
    assert sessions["ListSessions"]["Resource"] == {"Fn::Sub": sessions_arn}


def test_session_uploads_notify_the_sessions_function_without_a_cycle(
    template: Template, translated: Template
) -> None:
    name = props(template, "SessionsBucket")["BucketName"]["Fn::Sub"]
    (notification,) = props(template, "SessionsBucket")["NotificationConfiguration"][
        "LambdaConfigurations"
    ]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Function"] == {"Fn::GetAtt": ["SessionsFunction", "Arn"]}
    assert notification["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "sessions/"},
        {"Name": "suffix", "Value": ".cellucid-session"},
    ]
    assert template["Resources"]["SessionsBucket"]["DependsOn"] == "SessionsInvokePermission"
    permission = props(template, "SessionsInvokePermission")
    assert permission["Principal"] == "s3.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}"}
    environment = props(template, "SessionsFunction")["Environment"]["Variables"]
    assert environment["SESSIONS_BUCKET"] == {"Fn::Sub": name}
    (retries,) = of_type(translated, "AWS::Lambda::EventInvokeConfig").values()
    assert retries["Properties"]["MaximumRetryAttempts"] == 2


def test_every_function_gets_the_contract_environment(translated: Template) -> None:
    functions = of_type(translated, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    services = set()
    for name, function in functions.items():
        p = function["Properties"]
        assert set(p["Environment"]["Variables"]) >= CONTRACT_ENV, name
        services.add(p["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])
        assert (p["Runtime"], p["Architectures"]) == ("python3.12", ["x86_64"])
        assert p["Handler"] == EXPORT_STEPS.get(name, "app.handler"), name
        assert p["TracingConfig"] == {"Mode": "Active"}
    assert len(services) == len(functions)


def test_the_http_api_routes_each_path_to_its_function(template: Template) -> None:
    """Every path of the events routes and of the public read-only routes (as the API app
    declares them) reaches the events or the meta function, with every method; the default
    route takes the rest, to the API function's SnapStart alias."""
    from typing import cast

    from cellucid_cloud.api.cellucid_routes import cellucid_router
    from cellucid_cloud.api.context import ApiContext
    from cellucid_cloud.api.events_http import EVENTS_ROUTES
    from cellucid_cloud.api.meta_routes import meta_router

    ctx = cast(ApiContext, None)
    event_paths = {route.path for route in EVENTS_ROUTES}
    meta_paths = {
        route.path  # type: ignore[attr-defined]
        for public in (meta_router(ctx), cellucid_router(ctx))
        for route in public.routes
    }
    paths = props(template, "HttpApi")["DefinitionBody"]["paths"]
    assert set(paths) == {"$default", *event_paths, *meta_paths}
    targets = [("$default", "ApiFunction", ":live")]
    targets += [(p, "EventsFunction", "") for p in event_paths]
    targets += [(p, "MetaFunction", "") for p in meta_paths]
    for path, function, alias in targets:
        route = paths[path]["x-amazon-apigateway-any-method"]
        integration = route["x-amazon-apigateway-integration"]
        assert route.get("isDefaultRoute", False) is (path == "$default")
        assert integration["payloadFormatVersion"] == "2.0"
        assert integration["timeoutInMillis"] == 30000
        function_name = props(template, function)["FunctionName"]["Fn::Sub"]
        uri = integration["uri"]["Fn::Sub"]
        assert uri.endswith(f":function:{function_name}{alias}/invocations"), (path, uri)
    for permission, function in (
        ("ApiInvokePermission", "ApiFunction.Alias"),
        ("EventsInvokePermission", "EventsFunction"),
        ("MetaInvokePermission", "MetaFunction"),
    ):
        assert props(template, permission)["FunctionName"] == {"Ref": function}
        assert props(template, permission)["Principal"] == "apigateway.amazonaws.com"


def test_the_api_function_cold_starts_from_a_snapstart_snapshot(
    template: Template, translated: Template
) -> None:
    """Every deploy publishes a version and moves the alias the HTTP API invokes; SnapStart
    snapshots published versions (docs/deploy.md, "SnapStart")."""
    api = props(template, "ApiFunction")
    assert api["AutoPublishAlias"] == "live"
    assert api["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    (alias,) = of_type(translated, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionName"] == {"Ref": "ApiFunction"}
    (version,) = of_type(translated, "AWS::Lambda::Version").values()
    assert version["Properties"]["FunctionName"] == {"Ref": "ApiFunction"}
    function = of_type(translated, "AWS::Lambda::Function")["ApiFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    (alias_name,) = of_type(translated, "AWS::Lambda::Alias")
    permission = of_type(translated, "AWS::Lambda::Permission")["ApiInvokePermission"]
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_name}


def test_a_long_poll_ends_inside_the_function_and_api_gateway_timeouts(template: Template) -> None:
    from cellucid_cloud.aws.events import ANSWER_MARGIN
    from cellucid_cloud.events.service import MAX_WAIT

    timeout = props(template, "EventsFunction")["Timeout"]
    assert MAX_WAIT + ANSWER_MARGIN <= timeout < 30


def behaviours(template: Template) -> dict[str, Template]:
    config = props(template, "Distribution")["DistributionConfig"]
    return {b["PathPattern"]: b for b in config["CacheBehaviors"]} | {
        "*": config["DefaultCacheBehavior"]
    }


def test_cloudfront_routes_and_caching(template: Template) -> None:
    routes = behaviours(template)
    assert {p: b["TargetOriginId"] for p, b in routes.items()} == {
        "/exports/*": "exports",
        "/e/*": "exports",
        "/collections*": "exports",
        "*": "exports",
        "/dp/*": "api",
        "/datasets.json": "api",
        "/curation/*": "api",
        "/_cellucid/*": "api",
        "/openapi.json": "api",
        "/docs": "api",
        "/docs/*": "api",
    }
    assert routes["/exports/*"]["CachePolicyId"] == CACHING_OPTIMIZED
    assert routes["/exports/*"]["OriginRequestPolicyId"] == CORS_S3_ORIGIN
    for path in ("/curation/*", "/_cellucid/*"):
        assert routes[path]["CachePolicyId"] == CACHING_DISABLED
        assert routes[path]["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
        assert "POST" in routes[path]["AllowedMethods"]
    for path in ("/dp/*", "/datasets.json"):
        assert routes[path]["CachePolicyId"] == {"Ref": "MetaCachePolicy"}
    meta = props(template, "MetaCachePolicy")["CachePolicyConfig"]
    assert (meta["MinTTL"], meta["DefaultTTL"]) == (0, 0), "the API's Cache-Control decides"
    assert meta["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"] == {
        "QueryStringBehavior": "whitelist",
        "QueryStrings": ["url"],
    }
    errors = props(template, "Distribution")["DistributionConfig"]["CustomErrorResponses"]
    assert {e["ErrorCode"]: e["ErrorCachingMinTTL"] for e in errors} == {
        500: 0,
        502: 0,
        503: 0,
        504: 0,
    }


def test_exports_and_datasets_json_carry_cors_for_the_cellucid_web_app(
    template: Template,
) -> None:
    routes = behaviours(template)
    for path in ("/exports/*", "/datasets.json"):
        assert routes[path]["ResponseHeadersPolicyId"] == {"Ref": "ExportsResponseHeadersPolicy"}
    cors = props(template, "ExportsResponseHeadersPolicy")["ResponseHeadersPolicyConfig"][
        "CorsConfig"
    ]
    assert cors["AccessControlAllowOrigins"] == {"Items": ["*"]}
    # The headers up and serve expose (cellucid_cloud.http.cors): one rule on every host.
    assert cors["AccessControlExposeHeaders"]["Items"] == list(EXPOSED_HEADERS)
    assert cors["AccessControlAllowCredentials"] is False
    (rule,) = props(template, "ExportsBucket")["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == ["*"]
    assert set(rule["ExposedHeaders"]) == set(cors["AccessControlExposeHeaders"]["Items"])


def test_explorer_urls_and_collection_pages_go_through_the_cloudfront_function(
    template: Template,
) -> None:
    function_arn = {"Fn::GetAtt": ["PagesRewriteFunction", "FunctionMetadata.FunctionARN"]}
    for pattern in ("/e/*", "/collections*"):
        behaviour = behaviours(template)[pattern]
        (association,) = behaviour["FunctionAssociations"]
        assert association == {"EventType": "viewer-request", "FunctionARN": function_arn}
        assert behaviour["TargetOriginId"] == "exports"
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "ViewerResponseHeadersPolicy"}
    function = props(template, "PagesRewriteFunction")
    assert function["FunctionCode"] == PAGES_REWRITE.read_text()
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    config = props(template, "Distribution")["DistributionConfig"]
    assert config["DefaultRootObject"] == "portal/index.html"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the function")
def test_pages_rewrite_function_maps_every_page_url_to_its_file() -> None:
    pages = {
        "/e/abc/": "/viewer/index.html",
        "/e/abc": "/viewer/index.html",
        "/e/0f1e-22/": "/viewer/index.html",
        "/e/": "/viewer/index.html",
        "/collections": "/portal/index.html",
        "/collections/": "/portal/index.html",
        "/collections/0f1e-22": "/portal/collection.html",
        "/collections/0f1e-22/": "/portal/collection.html",
    }
    driver = (
        PAGES_REWRITE.read_text()
        + "console.log(JSON.stringify("
        + json.dumps(list(pages))
        + ".map(u => handler({request: {uri: u, querystring: {viewerId: {value: 'v'}}}}))));"
    )
    out = subprocess.run(
        ["node", "-e", driver], capture_output=True, text=True, check=True, timeout=30
    )
    requests = json.loads(out.stdout)
    assert [r["uri"] for r in requests] == list(pages.values())
    assert all(r["querystring"] == {"viewerId": {"value": "v"}} for r in requests)


def alarm_target(alarm: Template) -> tuple[str, str]:
    """(metric, the resource the alarm watches) of an alarm with one dimension."""
    (dimension,) = alarm["Dimensions"]
    value = dimension["Value"]
    return alarm["MetricName"], value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]


def test_alarms_watch_the_dead_letter_queue_and_every_function(template: Template) -> None:
    alarms = {
        alarm_target(a["Properties"]): a["Properties"]
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        ("ApproximateNumberOfMessagesVisible", "PrepareDeadLetterQueue"),
        ("ExecutionsFailed", "ExportStateMachine"),
        *(("Errors", function) for function in FUNCTIONS),
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_layer_pins_satisfy_the_package_requirements() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        Requirement(r).name: Requirement(r).specifier
        for r in [*project["dependencies"], *project["optional-dependencies"]["aws"]]
    }
    for layer in ("scientific", "api"):
        for requirement in layer_requirements(layer):
            (pin,) = requirement.specifier
            assert pin.operator == "==", requirement
            if requirement.name in declared:
                assert declared[requirement.name].contains(pin.version), (layer, requirement)


def layer_requirements(layer: str) -> list[Requirement]:
    lines = (ROOT / "layers" / layer / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def modules(layer: str) -> set[str]:
    return {r.name.replace("-", "_").lower() for r in layer_requirements(layer)}


@pytest.mark.parametrize(
    ("function", "layer", "other"),
    [
        ("prepare", "scientific", "api"),
        ("api", "api", "scientific"),
        ("events", "api", "scientific"),
        ("meta", "api", "scientific"),
        ("sessions", "api", "scientific"),
        ("export", "scientific", "api"),
    ],
)
def test_each_function_imports_only_what_its_layer_ships(
    function: str, layer: str, other: str
) -> None:
    """The handler module imports with every package of the other layer made unimportable."""
    absent = sorted(modules(other) - modules(layer))
    code = (
        "import sys\n"
        f"for name in {absent!r}:\n"
        "    sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(ROOT / 'functions' / function)!r})\n"
        "import app\n"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{function} needs one of {absent}:\n{result.stderr[-2000:]}"


def test_the_template_sets_every_variable_the_functions_read(translated: Template) -> None:
    """Every setting a function reads is set, except ALLOW_PRIVATE_LINKS: a hosted server
    never fetches links to private addresses."""
    from cellucid_cloud.aws.config import (
        ApiSettings,
        EventsSettings,
        ExportStepSettings,
        PrepareSettings,
        SessionsSettings,
        SiteSettings,
    )

    functions = of_type(translated, "AWS::Lambda::Function")
    for name, settings in (
        ("PrepareFunction", PrepareSettings),
        ("ApiFunction", ApiSettings),
        ("EventsFunction", EventsSettings),
        ("SessionsFunction", SessionsSettings),
        ("MetaFunction", SiteSettings),
        ("ExportPlanFunction", ExportStepSettings),
        ("ExportRowBlocksFunction", ExportStepSettings),
        ("ExportGeneBlocksFunction", ExportStepSettings),
        ("ExportFinalizeFunction", ExportStepSettings),
    ):
        variables = set(functions[name]["Properties"]["Environment"]["Variables"])
        read = {field.alias for field in settings.model_fields.values()}
        optional = {"ALLOW_PRIVATE_LINKS", "BLOCK_MEMORY_MB"}  # only Plan cuts blocks
        assert read - optional <= variables, name
        assert "ALLOW_PRIVATE_LINKS" not in variables, name
    api = functions["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert api["PREPARE_QUEUE_URL"] == {"Ref": "PrepareQueue"}
    prepare = functions["PrepareFunction"]["Properties"]["Environment"]["Variables"]
    assert prepare["EXPORT_STATE_MACHINE_ARN"] == {"Ref": "ExportStateMachine"}
    plan = functions["ExportPlanFunction"]["Properties"]["Environment"]["Variables"]
    assert plan["BLOCK_MEMORY_MB"] == {"Ref": "ExportBlockMemory"}
    events = functions["EventsFunction"]["Properties"]["Environment"]["Variables"]
    assert events["SESSIONS_BUCKET"] == {"Ref": "SessionsBucket"}


def test_the_viewer_page_gets_the_headers_it_gets_locally(template: Template) -> None:
    from cellucid_cloud.viewer import CONTENT_SECURITY_POLICY, PAGE_HEADERS

    routes = behaviours(template)
    for path in ("/e/*", "*"):
        assert routes[path]["ResponseHeadersPolicyId"] == {"Ref": "ViewerResponseHeadersPolicy"}
    headers = props(template, "ViewerResponseHeadersPolicy")["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    assert headers["ContentSecurityPolicy"]["ContentSecurityPolicy"] == CONTENT_SECURITY_POLICY
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == PAGE_HEADERS["Referrer-Policy"]
    assert PAGE_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert headers["ContentTypeOptions"] == {"Override": True}


def test_the_distributed_export_runs_on_its_own_functions_with_least_privilege(
    template: Template, translated: Template
) -> None:
    """A fixed name lets the state machine's role name its own child executions; it invokes
    exactly the four step functions and reads only the work prefix (its map items). Block
    functions write gene files and work files only; only Finalize commits to the catalog
    and deletes, and the prepare function may only start it."""
    machine = props(template, "ExportStateMachine")
    assert machine["Name"] == {"Fn::Sub": "cellucid-${Stage}-export"}
    role = statements(template, "ExportStateMachineRole")
    assert role["InvokeSteps"]["Resource"] == [
        {"Fn::GetAtt": [name, "Arn"]}
        for name in (
            "ExportPlanFunction",
            "ExportRowBlocksFunction",
            "ExportGeneBlocksFunction",
            "ExportFinalizeFunction",
        )
    ]
    assert role["ReadMapItems"]["Resource"] == {"Fn::Sub": "${ExportsBucket.Arn}/work/*"}
    children = role["WatchMapChildren"]["Resource"]["Fn::Sub"]
    assert children.endswith(":execution:cellucid-${Stage}-export/*")
    assert role["RunMapChildren"]["Resource"]["Fn::Sub"].endswith(
        ":stateMachine:cellucid-${Stage}-export"
    )
    (sfn,) = of_type(translated, "AWS::StepFunctions::StateMachine").values()
    assert sfn["Properties"]["RoleArn"] == {"Fn::GetAtt": ["ExportStateMachineRole", "Arn"]}
    work = {"Fn::Sub": "${ExportsBucket.Arn}/work/*"}
    exports = {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"}
    written = {
        role: {
            str(s["Resource"]["Fn::Sub"])
            for s in statements(template, role).values()
            if "s3:PutObject" in as_list(s["Action"])
        }
        for role in ("ExportPlanRole", "ExportRowBlocksRole", "ExportGeneBlocksRole")
    }
    assert written == {
        "ExportPlanRole": {exports["Fn::Sub"], work["Fn::Sub"]},
        "ExportRowBlocksRole": {work["Fn::Sub"]},
        "ExportGeneBlocksRole": {exports["Fn::Sub"], work["Fn::Sub"]},
    }
    for name in ("ExportPlanRole", "ExportRowBlocksRole", "ExportGeneBlocksRole"):
        actions = {a for s in statements(template, name).values() for a in as_list(s["Action"])}
        assert not any(a.startswith("dynamodb:") or a == "s3:DeleteObject" for a in actions)
    start = statements(template, "PrepareRole")["StartDistributedExport"]
    assert (start["Action"], start["Resource"]) == (
        "states:StartExecution",
        {"Ref": "ExportStateMachine"},
    )
    exports_bucket = props(template, "ExportsBucket")["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "expire-distributed-export-work",
        "Status": "Enabled",
        "Prefix": "work/",
        "ExpirationInDays": 7,
    } in exports_bucket
