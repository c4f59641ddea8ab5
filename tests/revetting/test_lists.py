"""Due lists and coverage statistics (R15, R15a): set-based (statement counts do not grow
with the population), scoped (R24, R25), and exported as spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.db import unit_of_work
from app.models import Appointment, Listing, RandomDraw
from tests.conftest import T0
from tests.revetting.conftest import add_evaluation, add_official, add_selection

DUE = "/api/v1/schedules/due"
COVERAGE = "/api/v1/stats/coverage"
ALL_STATES = [("state", s) for s in ("current", "due_soon", "overdue", "never_vetted")]


@contextmanager
def statements(engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def populate(factory, world, n: int, draw_id: uuid.UUID) -> None:
    """``n`` officials spread over every kind of obligation."""
    for i in range(n):
        kind = i % 6
        agency = world.mx_fgr if i % 2 else world.mx_police
        tier = "command" if kind == 4 else "line"
        oid = add_official(factory, agency, tier=tier)
        if kind == 1:
            add_evaluation(factory, oid, world.mx_c3, conducted_on=dt.date(2026, 1, 10))
        elif kind == 2:
            add_evaluation(factory, oid, world.mx_c3, conducted_on=dt.date(2023, 12, 1))
        elif kind == 3:
            add_evaluation(
                factory, oid, world.mx_c3, outcome="inconclusive", conducted_on=dt.date(2026, 11, 1)
            )
        elif kind == 5:
            add_evaluation(factory, oid, world.mx_c3, conducted_on=dt.date(2025, 2, 1))
            add_selection(factory, oid, draw_id, dt.date(2026, 12, 10))


def a_draw(factory, world) -> uuid.UUID:
    with unit_of_work(factory) as session:
        draw = RandomDraw(
            scope={},
            sample_size=1,
            population_size=1,
            population_hash="0" * 64,
            status="completed",
            commit_deadline=T0,
            reveal_deadline=T0,
            random_due_days=30,
            created_by=world.mx_admin.id,
            created_at=T0,
        )
        session.add(draw)
        session.flush()
        return draw.id


def test_due_list_and_coverage_statement_counts_do_not_grow(client, auth, world, factory, app):
    draw_id = a_draw(factory, world)
    engine = app.state.engine
    admin = auth(world.mx_admin)

    def measure(expected: int) -> tuple[int, int]:
        # Counted warm: a caller's first request also loads its user, which the principal
        # cache then spares (#17); what must not grow is the route's own SQL.
        client.get(DUE, params=[("limit", 1)], headers=admin)
        with statements(engine) as due_sql:
            r = client.get(DUE, params=[*ALL_STATES, ("limit", 200)], headers=admin)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == expected
        assert sum("schedule_summary" in s for s in due_sql) == 1  # one set-based SELECT
        with statements(engine) as coverage_sql:
            r = client.get(COVERAGE, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["totals"]["active"] == expected
        return len(due_sql), len(coverage_sql)

    populate(factory, world, 5, draw_id)
    small = measure(5)
    populate(factory, world, 35, draw_id)
    assert measure(40) == small


def test_due_list_scoping_filters_and_pages(client, auth, world, factory, make_user):
    police = [add_official(factory, world.mx_police) for _ in range(3)]
    justice = add_official(factory, world.mx_fgr)
    us = add_official(factory, world.us_fbi, country="US")

    def ids(caller, params=(), expect=200):
        r = client.get(DUE, params=list(params), headers=auth(caller))
        assert r.status_code == expect, r.text
        return {i["official_id"] for i in r.json()["items"]} if expect == 200 else r.json()

    everyone = {str(i) for i in [*police, justice]}
    assert ids(world.mx_vetter) == everyone  # never vetted: on the default list
    assert ids(world.mx_admin, [("sector", "justice")]) == {str(justice)}
    assert ids(world.mx_admin, [("agency_id", str(world.mx_fgr))]) == {str(justice)}
    assert ids(world.mx_admin, [("state", "current")]) == set()
    assert ids(world.us_admin) == {str(us)}
    # A personnel officer sees its own agency only (R25).
    assert ids(world.mx_hr) == {str(i) for i in police}
    refused = ids(world.mx_hr, [("agency_id", str(world.mx_fgr))], expect=403)
    assert refused["code"] == "NOT_OWN_AGENCY"
    assert ids(world.mx_auditor, expect=403)["code"] == "ROLE_NOT_ADMITTED"
    assert ids(world.mx_admin, [("state", "inactive")], expect=422)["code"] == "VALIDATION_ERROR"
    assert ids(world.mx_admin, [("cursor", "!!")], expect=422)["code"] == "VALIDATION_ERROR"

    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get(DUE, params=params, headers=auth(world.mx_admin)).json()
        seen += [i["official_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(everyone)
    assert len(seen) == len(everyone)


def test_schedule_scoping(client, auth, world, factory):
    mine = add_official(factory, world.mx_fgr)
    url = f"/api/v1/officials/{mine}/schedule"
    assert client.get(url, headers=auth(world.us_admin)).status_code == 404  # R24
    assert client.get(url, headers=auth(world.mx_auditor)).status_code == 403
    assert client.get(url, headers=auth(world.mx_hr)).status_code == 200
    assert (
        client.get(
            f"/api/v1/officials/{uuid.uuid4()}/schedule", headers=auth(world.mx_admin)
        ).status_code
        == 404
    )
    with unit_of_work(factory) as session:
        for appointment in session.query(Appointment).filter_by(official_id=mine):
            appointment.ended_on = dt.date(2026, 6, 30)
    gone = client.get(url, headers=auth(world.mx_vetter)).json()
    assert gone["state"] == "inactive"
    assert gone["next_due"] is None
    assert gone["obligations"] == []


def test_coverage_figures_completeness_and_named_seniors(client, auth, world, factory, make_user):
    body = world.mx_c3
    senior = add_official(factory, world.mx_police, tier="command", first="ZAMORA")
    current = add_official(factory, world.mx_police)
    add_evaluation(factory, current, body, conducted_on=dt.date(2026, 1, 10))
    due_soon = add_official(factory, world.mx_police)
    add_evaluation(factory, due_soon, body, conducted_on=dt.date(2023, 12, 1))
    overdue = add_official(factory, world.mx_police)
    add_evaluation(factory, overdue, body, conducted_on=dt.date(2023, 1, 1))
    add_official(factory, world.mx_fgr)
    add_official(factory, world.us_fbi, country="US")
    with unit_of_work(factory) as session:
        session.add(
            Listing(
                official_id=overdue,
                basis="expelled",
                source_type="separation",
                source_id=uuid.uuid4(),
                listed_by=world.mx_police,
                listed_on=dt.date(2026, 5, 1),
                created_at=T0,
            )
        )

    r = client.get(COVERAGE, headers=auth(world.mx_admin))
    assert r.status_code == 200, r.text
    cov = r.json()
    figures = ("active", "vetted", "current", "due_soon", "overdue", "never_vetted", "listed")
    rows = {
        (x["agency_acronym"], x["rank_tier"]): tuple(x[f] for f in figures) for x in cov["rows"]
    }
    assert rows == {
        ("PEJ", "command"): (1, 0, 0, 0, 0, 1, 0),
        ("PEJ", "line"): (3, 2, 1, 1, 1, 0, 1),
        ("FGR", "line"): (1, 0, 0, 0, 0, 1, 0),
    }
    assert cov["totals"] == dict(zip(figures, (5, 2, 1, 1, 1, 2, 1), strict=True))
    agencies = {a["agency_acronym"]: a for a in cov["agencies"]}
    assert set(agencies) == {"PEJ", "FGR", "C3JAL"}  # the other country's agencies stay out
    assert (agencies["PEJ"]["active_roster"], agencies["PEJ"]["with_any_record"]) == (4, 3)
    assert agencies["PEJ"]["share_with_record"] == 0.75
    assert agencies["FGR"]["share_with_record"] == 0.0
    assert agencies["FGR"]["last_submission_at"] is not None  # its appointment
    assert agencies["C3JAL"]["share_with_record"] is None
    assert agencies["C3JAL"]["last_submission_at"] is None
    assert cov["senior_never_vetted_count"] == 1
    assert [s["official_id"] for s in cov["senior_never_vetted"]] == [str(senior)]
    assert cov["senior_never_vetted"][0]["first_surname"] == "ZAMORA"

    # Auditors get the counts, not the names; other roles are not admitted.
    audited = client.get(COVERAGE, headers=auth(world.mx_auditor)).json()
    assert audited["senior_never_vetted"] is None
    assert audited["senior_never_vetted_count"] == 1
    assert client.get(COVERAGE, headers=auth(world.mx_vetter)).status_code == 403
    us = client.get(COVERAGE, headers=auth(world.us_admin)).json()
    assert {x["agency_acronym"] for x in us["rows"]} == {"FBI"}
    only_line = client.get(COVERAGE, params={"rank_tier": "line"}, headers=auth(world.mx_admin))
    assert only_line.json()["totals"]["active"] == 4


def test_csv_export_opens_cleanly_in_a_spreadsheet(client, auth, world, factory):
    add_official(factory, world.mx_police, given='=HYPERLINK("http://x")', first="NÚÑEZ")
    add_official(factory, world.mx_police, given="JOSÉ MARÍA", first="-SUM(A1)", second="@PEÑA")
    r = client.get(DUE, headers={**auth(world.mx_admin), "Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: spreadsheets read the accents
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["official_id", "first_surname", "second_surname", "given_names"]
    by_given = {row[3]: row for row in rows[1:]}
    assert set(by_given) == {'\'=HYPERLINK("http://x")', "JOSÉ MARÍA"}
    assert by_given["JOSÉ MARÍA"][1:3] == ["'-SUM(A1)", "'@PEÑA"]
    assert by_given['\'=HYPERLINK("http://x")'][1] == "NÚÑEZ"
    assert {row[7] for row in rows[1:]} == {"never_vetted"}
