"""Runs inside a task's container: gets the task role's credentials through botocore's container provider and
calls the Berth API with them. Prints one line per result, "RESULT <name> <json>", then sleeps so the task keeps
running. `probe.py fetch URL [TOKEN]` only GETs URL and prints "FETCH <status> <body>" (or the error)."""

import json
import os
import sys
import time
import urllib.error
import urllib.request


def result(name, value):
    print("RESULT", name, json.dumps(value), flush=True)


def fetch(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=3) as r:
            return r.status, parse(r.read())
    except urllib.error.HTTPError as e:
        return e.code, parse(e.read())
    except Exception as e:  # connection refused, timeout, no route
        return None, repr(e)


def parse(body):
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode("utf-8", "replace")


def shape(document):
    """The credentials document without its secrets: which keys it has, and the non-secret values."""
    if not isinstance(document, dict):
        return document
    return {k: (v if k in ("RoleArn", "Expiration", "code", "message") else "<set>") for k, v in document.items()}


if len(sys.argv) > 1 and sys.argv[1] == "fetch":
    status, document = fetch(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    print("FETCH", json.dumps({"status": status, "document": shape(document)}), flush=True)
    sys.exit(0)

import botocore.session  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

endpoint = os.environ["BERTH_ENDPOINT"]
relative = os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
full = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
own = ("http://169.254.170.2" + relative) if relative else full
status, document = fetch(own, os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
result("own", {"status": status, "document": shape(document)})

session = botocore.session.get_session()
credentials = session.get_credentials()
result("method", credentials.method if credentials else None)
if credentials:
    sts = session.create_client("sts", region_name="us-east-1", endpoint_url=endpoint)
    result("identity", sts.get_caller_identity()["Arn"])
    ecs = session.create_client("ecs", region_name="us-east-1", endpoint_url=endpoint)
    result("allowed", ecs.list_clusters()["clusterArns"])
    try:
        ecs.list_task_definitions()
        result("denied", "allowed")
    except ClientError as e:
        result("denied", {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]})

other = os.environ.get("OTHER_URI")
if other:
    status, document = fetch("http://169.254.170.2" + other)
    result("other", {"status": status, "document": shape(document)})
time.sleep(600)
