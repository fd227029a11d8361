#!/usr/bin/env python3
"""Creates repositories through the ECR API of a registry-dev server (no SigV4: registry-dev is a loopback test
server). Usage: ecr.py ENDPOINT NAME... ; for `berth up`, use `aws ecr create-repository` instead."""
import json, sys, urllib.request

endpoint, names = sys.argv[1], sys.argv[2:]
for name in names:
    req = urllib.request.Request(f"http://{endpoint}/", data=json.dumps({"repositoryName": name}).encode(),
        headers={"X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.CreateRepository",
                 "Content-Type": "application/x-amz-json-1.1"})
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        if "RepositoryAlreadyExists" not in body:
            sys.exit(f"CreateRepository {name}: {body}")
