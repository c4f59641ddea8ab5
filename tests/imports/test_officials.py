"""Importing officials: the API's rules per row (R1, R2, R25), rejected rows reported with line
and code and never written, idempotent re-runs, resumption after a crash."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, text

from app.errors import Conflict
from app.models import (
    Appointment,
    AuditEvent,
    ImportJob,
    Official,
    OfficialIdentifier,
    OfficialNameKey,
)
from app.services.imports.imports import LEASE, ImportInterrupted
from app.services.registry.identifiers import make_curp
from app.services.registry.officials import decrypt_identifiers, name_keys
from tests.imports.conftest import Importer, World
from tests.imports.support import OFFICIAL_HEADER, official, to_csv, to_ndjson


def test_valid_rows_are_registered_as_the_api_would(importer: Importer, world: World) -> None:
    rows = [official(n) for n in range(5)]
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows))
    assert (run.status, run.accepted, run.rejected, run.duplicates) == ("completed", 5, 0, 0)
    assert run.total_rows == 5
    assert run.last_line == 6  # header + five records
    settings = importer.app.state.settings
    with importer.factory() as session:
        got = session.scalars(select(Official).order_by(Official.source_ref)).all()
        assert [o.source_ref for o in got] == [f"OFF-{n}" for n in range(5)]
        for o, row in zip(got, rows, strict=True):
            assert o.country == "MX"
            assert o.registered_by_agency_id == world.mx_police
            # R2: stored encrypted, found by blind index, decrypts to the compact value.
            assert decrypt_identifiers(session, settings, o.id) == [("CURP", row["curp"])]
            stored_keys = session.scalars(
                select(OfficialNameKey.key).where(OfficialNameKey.official_id == o.id)
            ).all()
            assert sorted(stored_keys) == name_keys(o)  # screening finds them like API ones
            appt = session.scalars(select(Appointment).where(Appointment.official_id == o.id)).one()
            assert (appt.agency_id, appt.rank_tier, appt.kind) == (
                world.mx_police,
                "line",
                "appointment",
            )
            assert appt.started_on == dt.date(2015, 2, 1)
        # R22: one event per batch, with counts and no identifier.
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "import.batch")
        ).all()
        assert len(events) == 1
        assert events[0].details["accepted"] == 5
        blob = json.dumps(events[0].details)
        assert all(row["curp"] not in blob for row in rows)


def test_rejected_rows_are_reported_with_line_and_code_and_never_written(
    importer: Importer, world: World
) -> None:
    good = official(0)
    bad_digit = official(1)
    bad_digit["curp"] = bad_digit["curp"][:-1] + ("0" if bad_digit["curp"][-1] != "0" else "1")
    mismatch = official(2)
    mismatch["date_of_birth"] = "1981-05-05"  # the CURP says otherwise
    unknown_agency = official(3, agency="NOPE")
    foreign_agency = official(4, agency="FBI")  # another country's acronym is unknown here
    no_ref = official(5, source_ref="")
    bad_date = official(6, date_of_birth="1985-13-40")
    bad_tier = official(7, rank_tier="general")
    future = official(8, date_of_birth="2030-01-01", curp="")
    rows = [
        good,
        bad_digit,
        mismatch,
        unknown_agency,
        foreign_agency,
        no_ref,
        bad_date,
        bad_tier,
        future,
    ]
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows))
    assert (run.status, run.accepted, run.rejected) == ("completed", 1, 8)
    by_line = {line: (ref, code, reason) for line, ref, code, reason in run.errors}
    assert by_line[3][:2] == ("OFF-1", "CURP_INVALID_CHECK_DIGIT")
    assert by_line[3][2].startswith("curp: ")
    assert by_line[4][:2] == ("OFF-2", "CURP_BIRTH_DATE_MISMATCH")
    assert by_line[5][:2] == ("OFF-3", "AGENCY_NOT_FOUND")
    assert by_line[6][:2] == ("OFF-4", "AGENCY_NOT_FOUND")
    assert by_line[7][:2] == (None, "SOURCE_REF_MISSING")
    assert by_line[8][:2] == ("OFF-6", "VALIDATION_ERROR")
    assert "date_of_birth" in by_line[8][2]
    assert by_line[9][:2] == ("OFF-7", "VALIDATION_ERROR")
    assert "rank_tier" in by_line[9][2]
    assert by_line[10][:2] == ("OFF-8", "VALIDATION_ERROR")
    # Reasons never quote an identifier.
    assert all(bad_digit["curp"] not in reason for *_, reason in run.errors)
    assert importer.count(Official) == 1
    assert importer.count(OfficialIdentifier) == 1
    assert importer.count(Appointment) == 1


def test_an_agency_of_another_country_named_by_id_is_refused(
    importer: Importer, world: World
) -> None:
    row = official(0, agency=str(world.us_fbi))
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, [row]))
    assert run.errors == [(2, "OFF-0", "AGENCY_NOT_FOUND", "No such agency")]
    assert importer.count(Official) == 0


def test_an_identifier_already_registered_is_refused_like_the_api(
    importer: Importer, world: World
) -> None:
    first = official(0)
    again = official(1, curp=first["curp"], date_of_birth=first["date_of_birth"])
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, [first, again]))
    assert run.accepted == 1
    assert run.errors == [
        (3, "OFF-1", "IDENTIFIER_EXISTS", "An official with this CURP is already registered")
    ]
    later = official(2, curp=first["curp"], date_of_birth=first["date_of_birth"])
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, [later]))
    assert [e[2] for e in run.errors] == ["IDENTIFIER_EXISTS"]
    assert importer.count(Official) == 1


def test_ndjson_in_the_api_shape_and_flat(importer: Importer, world: World) -> None:
    flat = official(0)
    api_shape = {
        "source_ref": "OFF-API",
        "given_names": "ROSA MARIA",
        "first_surname": "DE LA CRUZ",
        "second_surname": None,
        "date_of_birth": "1979-07-30",
        "identifiers": [
            {
                "scheme": "CURP",
                "value": make_curp("ROSA MARIA", "DE LA CRUZ", None, dt.date(1979, 7, 30), "F"),
            },
            {"scheme": "EMPLOYEE_ID", "value": "PEJ-0001"},
        ],
        "appointment": {
            "agency_id": str(world.mx_police),
            "position": "Comandante",
            "rank_tier": "command",
            "started_on": "2010-01-01",
        },
    }
    text = to_ndjson([flat, api_shape]) + "\n" + "[1, 2]\n" + "{not json\n"
    run = importer(world.mx_admin, "officials", text, fmt="ndjson")
    assert (run.accepted, run.rejected) == (2, 2)
    assert [(e[0], e[2]) for e in run.errors] == [(4, "JSON_INVALID"), (5, "JSON_INVALID")]
    with importer.factory() as session:
        o = session.scalars(select(Official).where(Official.source_ref == "OFF-API")).one()
    assert o.second_surname is None
    assert importer.count(OfficialIdentifier, OfficialIdentifier.official_id == o.id) == 2


def test_a_csv_with_unknown_columns_fails_as_a_whole(importer: Importer, world: World) -> None:
    text = "source_ref,given_names,shoe_size\nX,JUAN,42\n"
    with pytest.raises(Exception, match="unknown columns"):
        importer(world.mx_admin, "officials", text)
    run = importer.result(_last_job(importer))
    assert run.status == "failed"
    assert importer.count(Official) == 0


def _last_job(importer: Importer) -> object:
    with importer.factory() as session:
        return session.scalars(select(ImportJob.id).order_by(ImportJob.created_at.desc())).first()


def test_rerunning_a_file_adds_nothing(importer: Importer, world: World) -> None:
    rows = [official(n) for n in range(7)]
    rows.append(official(99, curp="XXXX"))  # rejected both times
    text = to_csv(OFFICIAL_HEADER, rows)
    first = importer(world.mx_admin, "officials", text, batch_size=3)
    assert (first.accepted, first.rejected, first.duplicates) == (7, 1, 0)
    second = importer(world.mx_admin, "officials", text, batch_size=3)
    assert (second.accepted, second.rejected, second.duplicates) == (0, 1, 7)
    assert importer.count(Official) == 7
    assert importer.count(OfficialIdentifier) == 7
    assert importer.count(Appointment) == 7


def test_a_crash_mid_file_resumes_without_loss_or_duplication(
    importer: Importer, world: World
) -> None:
    rows = [official(n) for n in range(10)]
    rows[4]["curp"] = "BAD"  # one rejected row inside a committed batch
    job_id = importer.queue(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows))
    with pytest.raises(ImportInterrupted):
        importer.run(job_id, batch_size=3, stop_after_batches=2)
    crashed = importer.result(job_id)
    assert (crashed.status, crashed.last_line, crashed.total_rows) == ("running", 7, 6)
    assert importer.count(Official) == 5

    # The dead runner's lease still holds: nobody else may take the job yet.
    with pytest.raises(Conflict):
        importer.run(job_id, batch_size=3)
    importer.clock.advance(LEASE + dt.timedelta(seconds=1))
    done = importer.run(job_id, batch_size=3)
    assert (done.status, done.accepted, done.rejected, done.duplicates) == ("completed", 9, 1, 0)
    assert done.total_rows == 10
    assert [e[:3] for e in done.errors] == [(6, "OFF-4", "CURP_INVALID_FORMAT")]
    assert importer.count(Official) == 9
    with importer.factory() as session:
        refs = session.scalars(select(Official.source_ref)).all()
    assert sorted(refs) == sorted(f"OFF-{n}" for n in range(10) if n != 4)


def test_a_failed_job_resumes_where_it_stopped(importer: Importer, world: World) -> None:
    rows = [official(n) for n in range(6)]
    job_id = importer.queue(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows))
    with pytest.raises(ImportInterrupted):
        importer.run(job_id, batch_size=2, stop_after_batches=1)
    # Even with the checkpoint lost (a crash between the commit of the rows and the job's
    # update cannot happen, but a restore from backup can), the source_ref check covers it.
    with importer.factory() as session, session.begin():
        session.execute(ImportJob.__table__.update().values(last_line=0, locked_until=None))
    done = importer.run(job_id, batch_size=2)
    assert done.status == "completed"
    assert done.duplicates == 2
    assert importer.count(Official) == 6


def test_scoping_an_admin_imports_only_its_own_country(importer: Importer, world: World) -> None:
    mx_row = official(0)  # PEJAL is Mexican
    run = importer(world.us_admin, "officials", to_csv(OFFICIAL_HEADER, [mx_row]))
    assert [e[2] for e in run.errors] == ["AGENCY_NOT_FOUND"]
    us_row = official(1, agency="FBI", curp="", second_surname="")
    run = importer(world.us_admin, "officials", to_csv(OFFICIAL_HEADER, [us_row]))
    assert run.accepted == 1
    with importer.factory() as session:
        assert session.scalars(select(Official.country)).all() == ["US"]


@pytest.mark.postgres_only
def test_a_completed_job_leaves_fresh_planner_statistics(importer: Importer, world: World) -> None:
    """After a bulk load the planner must not go on planning for the tables as they were
    (docs/import.md): the job analyses what it filled. ANALYZE of a small table reads every row,
    so ``pg_class.reltuples`` then equals the live rows exactly."""
    run = importer(
        world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, [official(n) for n in range(7)])
    )
    assert run.accepted == 7
    with importer.factory() as session:
        for model in (Official, OfficialIdentifier, OfficialNameKey, Appointment):
            table = model.__tablename__
            reltuples = session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
            )
            assert reltuples == importer.count(model), table
