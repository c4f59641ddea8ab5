"""``GET /officials?name=`` is a prefix search on the letters typed (#19): ``%`` and ``_`` are
characters like any other, not SQL LIKE wildcards (``_`` matched any letter, ``%`` anything).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registry.builders import make_agency, official_body, register

SURNAMES = ["PE%A", "PE_A", "PENA", "PERALTA", "PEXXA"]


@pytest.fixture
def searcher(client: TestClient, make_user: Any, factory: Any) -> Any:
    agency = make_agency(factory, country="MX")
    admin = make_user("admin", "MX", agency_id=agency)
    for surname in SURNAMES:
        register(client, admin.headers, official_body(agency, first=surname, curp=False))
    return admin


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PE%", ["PE%A"]),
        ("PE%A", ["PE%A"]),
        ("PE_", ["PE_A"]),
        ("PE_A", ["PE_A"]),
        ("%", []),
        ("_", []),
        ("%A", []),
        ("PE", sorted(SURNAMES)),  # the control: a plain prefix finds them all
    ],
)
def test_percent_and_underscore_in_a_name_search_match_only_themselves(
    client: TestClient, searcher: Any, name: str, expected: list[str]
) -> None:
    response = client.get(
        "/api/v1/officials", params={"name": name, "limit": 50}, headers=searcher.headers
    )
    assert response.status_code == 200, response.text
    found = sorted(item["first_surname"] for item in response.json()["items"])
    assert found == expected
