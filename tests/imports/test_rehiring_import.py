"""Issue #15, point 1, for bulk imports: an official row with an appointment passes the same R3
gate as ``POST /officials``. A listed person (by identifier, or by name and date of birth) is
rejected with the row's line and ``OFFICIAL_LISTED``, a near-match with
``SCREENING_REVIEW_REQUIRED``; nothing is written for that row and the other rows go in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.commands.imports import app as cli
from app.config import Settings
from app.models import Appointment, Official, OfficialIdentifier, Screening
from app.services.registry.identifiers import make_curp
from tests.imports.conftest import Importer, World
from tests.imports.support import OFFICIAL_HEADER, official, to_csv
from tests.registry.builders import evaluate, official_body, register, with_result

GIVEN, FIRST, SECOND, DOB = "JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1985, 3, 14)


def _listed(client: Any, world: World, make_user: Any) -> dict[str, Any]:
    """Registered at the police, listed by a failed polygraph at C3 (R7)."""
    vetter = make_user("vetting_officer", "MX", agency_id=world.mx_vetter_body)
    person = register(client, world.mx_admin.headers, official_body(world.mx_police))
    evaluate(
        client,
        vetter.headers,
        person["id"],
        world.mx_vetter_body,
        components=with_result("polygraph", "fail"),
    )
    return person


def _rows() -> list[dict[str, Any]]:
    same = official(
        10,
        source_ref="GN-SAME",
        given_names=GIVEN,
        first_surname=FIRST,
        second_surname=SECOND,
        date_of_birth=DOB.isoformat(),
        sex="M",
        curp="",
        agency="FGR",
    )
    by_curp = official(
        11,
        source_ref="GN-CURP",
        given_names="J CARLOS",  # the name a clerk typed; the CURP is the person's
        first_surname=FIRST,
        second_surname=SECOND,
        date_of_birth=DOB.isoformat(),
        sex="M",
        curp=make_curp(GIVEN, FIRST, SECOND, DOB, "M"),
        agency="FGR",
    )
    near = official(
        12,
        source_ref="GN-NEAR",
        given_names=GIVEN,
        first_surname=FIRST,
        second_surname=SECOND,
        date_of_birth="1985-01-01",  # only the year agrees: review band
        sex="M",
        curp="",
        agency="FGR",
    )
    return [official(2), same, by_curp, near, official(3)]


def test_listed_rows_are_rejected_with_line_and_code_and_the_rest_imported(
    client: Any, importer: Importer, world: World, make_user: Any
) -> None:
    _listed(client, world, make_user)
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, _rows()))
    assert (run.status, run.accepted, run.rejected) == ("completed", 2, 3)
    assert [(line, ref, code) for line, ref, code, _reason in run.errors] == [
        (3, "GN-SAME", "OFFICIAL_LISTED"),
        (4, "GN-CURP", "OFFICIAL_LISTED"),
        (5, "GN-NEAR", "SCREENING_REVIEW_REQUIRED"),
    ]
    assert "failed_vetting" in run.errors[0][3]
    # Nothing of the rejected rows: the listed person's own record and the two good rows.
    assert importer.count(Official) == 3
    assert importer.count(Appointment) == 3
    assert importer.count(OfficialIdentifier) == 3
    with importer.factory() as session:
        refs = set(session.scalars(select(Official.source_ref)))
        assert refs == {None, "OFF-2", "OFF-3"}
        # The near-match's screening is kept for a reviewer, named in the row's reason.
        kept = session.scalars(
            select(Screening.id).where(Screening.purpose == "appointment_gate")
        ).all()
    assert len(kept) == 2
    assert any(str(k) in run.errors[2][3] for k in kept)


def test_a_reviewers_ruling_lets_the_near_match_in_on_a_rerun(
    client: Any, importer: Importer, world: World, make_user: Any
) -> None:
    listed = _listed(client, world, make_user)
    text = to_csv(OFFICIAL_HEADER, _rows())
    first = importer(world.mx_admin, "officials", text)
    screening_id = first.errors[2][3].split("screening ")[1].split()[0].rstrip(".;,")
    r = client.post(
        f"/api/v1/screenings/{screening_id}/decisions",
        json={
            "official_id": listed["id"],
            "decision": "not_same_person",
            "reasons": "Different people: birth certificates checked",
        },
        headers=world.mx_admin.headers,
    )
    assert r.status_code == 201, r.text
    again = importer(world.mx_admin, "officials", text)
    assert (again.accepted, again.rejected, again.duplicates) == (1, 2, 2)
    assert [e[1:3] for e in again.errors] == [
        ("GN-SAME", "OFFICIAL_LISTED"),
        ("GN-CURP", "OFFICIAL_LISTED"),
    ]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name in ("database_url", "jwt_secret", "identifier_key", "blind_index_key", "signing_key"):
        monkeypatch.setenv(f"REGISTRY_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("REGISTRY_ENV", "test")
    monkeypatch.setenv("REGISTRY_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("REGISTRY_ARGON2_TIME_COST", "1")


def test_the_command_line_reports_the_listed_rows(
    env: None, client: Any, importer: Importer, world: World, make_user: Any, tmp_path: Path
) -> None:
    _listed(client, world, make_user)
    path = tmp_path / "roster.csv"
    path.write_text(to_csv(OFFICIAL_HEADER, _rows()))
    result = CliRunner().invoke(
        cli, ["officials", str(path), "--actor", world.mx_admin.username, "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "5 rows: 2 accepted, 3 rejected" in result.output
    assert "line 3 [GN-SAME] OFFICIAL_LISTED" in result.output
    assert "line 5 [GN-NEAR] SCREENING_REVIEW_REQUIRED" in result.output
    assert importer.count(Official) == 3
