"""#16: services name a refused field as the rules know it (``agency_id``), never by how HTTP
carried it; the problem handler places it (``body.agency_id``), and an import names the column.

The walk reads every string in ``app/services`` (f-strings included): one that starts with
``body.`` or ``query.`` is an HTTP location leaking into the rules. The placement itself is
checked through the real app below, and every test that reads ``errors[0].field`` of a refused
request checks it again."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.errors import FieldError

SERVICES = Path(__file__).resolve().parent.parent / "app" / "services"
LOCATION = re.compile(r"^(body|query|path|header)\.")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                found.append((node.lineno, head.value))
    return found


def test_services_name_fields_without_an_http_location() -> None:
    leaks = [
        f"{path.relative_to(SERVICES.parent.parent)}:{line}: {text!r}"
        for path in sorted(SERVICES.rglob("*.py"))
        for line, text in _strings(ast.parse(path.read_text(), filename=str(path)))
        if LOCATION.match(text)
    ]
    assert leaks == []


@pytest.mark.parametrize(
    ("error", "placed"),
    [
        (FieldError("agency_id", "no agency"), "body.agency_id"),
        (FieldError("state", "no schedule", location="query"), "query.state"),
        (FieldError("identifiers.0.value", "bad"), "body.identifiers.0.value"),
    ],
)
def test_a_field_error_knows_where_the_request_carried_it(error: FieldError, placed: str) -> None:
    assert error.path == placed
    assert error.field == placed.split(".", 1)[1]
