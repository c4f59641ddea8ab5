"""The OpenAPI document describes every route with its schemas and error answers (DESIGN §5)."""

from __future__ import annotations


def test_every_operation_documents_success_and_problems(client):
    doc = client.get("/openapi.json").json()
    missing = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in item.items():
            responses = op.get("responses", {})
            success = [c for c in responses if c.startswith("2")]
            problems = [c for c in responses if c.startswith("4")]
            if not success:
                missing.append(f"{method.upper()} {path}: no success response")
            if not problems:
                missing.append(f"{method.upper()} {path}: no problem responses")
            for code in problems:
                content = responses[code].get("content", {})
                if "application/problem+json" not in content:
                    missing.append(f"{method.upper()} {path}: {code} is not a problem document")
    assert not missing, "\n".join(missing)


def test_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Binational Vetting Registry"


def test_every_reference_resolves(client):
    import json
    import re

    doc = client.get("/openapi.json").json()
    names = set(doc["components"]["schemas"])
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs - names == set()
