"""CSV/formula injection in the due-list export (#19; OWASP "CSV Injection"): a cell a
spreadsheet could run — one that starts, after NFKC normalisation and leading blanks, with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return, or that holds such a formula after a
separator a spreadsheet may split on (``X;=1+1`` in a locale whose list separator is ``;``) —
is written with a leading single quote, and every field is quoted.

``X;=1+1`` and ``＝1+1`` (fullwidth equals, which spreadsheets read as ``=``) used to pass
through unquoted.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.revetting.spreadsheet import spreadsheet_safe
from tests.registry.builders import make_agency
from tests.revetting.conftest import add_official

DUE = "/api/v1/schedules/due"

DANGEROUS = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "\u00a0=1+1",  # a no-break space first
    "＝1+1",  # fullwidth equals
    "＋1+1",  # fullwidth plus
    "－1",  # fullwidth hyphen-minus
    "＠SUM(A1)",  # fullwidth commercial at
    "﹦1+1",  # small equals sign
    "X;=1+1",
    "X; =1+1",
    "X,=1+1",
    "X|=1+1",
    "X\t=1+1",
    "X\n=1+1",
    "X;＝1+1",
    "X;@SUM(A1)",
]

HARMLESS = [
    "PEREZ-GOMEZ",
    "O'NEIL",
    "JOSÉ MARÍA",
    "2026-11-27",
    "validity_end;promotion",
    "A+B",
    "",
]


@pytest.mark.parametrize("value", DANGEROUS)
def test_a_cell_that_could_run_as_a_formula_gets_a_leading_quote(value: str) -> None:
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", HARMLESS)
def test_an_ordinary_cell_is_left_alone(value: str) -> None:
    assert spreadsheet_safe(value) == value


def test_the_due_list_csv_neutralises_the_reported_values(
    client: TestClient, make_user: Any, factory: Any
) -> None:
    agency = make_agency(factory, country="MX", acronym="CSVX")
    add_official(factory, agency, given="X;=1+1", first="＝1+1", second="PEREZ-GOMEZ")
    admin = make_user("admin", "MX")
    response = client.get(DUE, headers={**admin.headers, "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    # Every field quoted, the dangerous ones with their quote mark inside.
    assert '"\'X;=1+1"' in text
    assert '"\'＝1+1"' in text
    assert '"PEREZ-GOMEZ"' in text
    rows = list(csv.reader(io.StringIO(text)))
    row = next(r for r in rows[1:] if r[3] == "'X;=1+1")
    assert row[1:3] == ["'＝1+1", "PEREZ-GOMEZ"]
    for line in text.splitlines()[1:]:
        assert line.startswith('"'), line
        assert line.endswith('"'), line
