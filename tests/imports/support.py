"""Rows for import files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from app.services.registry.identifiers import make_curp

OFFICIAL_HEADER = [
    "source_ref",
    "given_names",
    "first_surname",
    "second_surname",
    "date_of_birth",
    "sex",
    "curp",
    "agency",
    "position",
    "rank_tier",
    "started_on",
]
COMPONENTS = (
    "polygraph",
    "background",
    "financial",
    "toxicology",
    "psychological",
    "medical",
    "socioeconomic",
)
EVALUATION_HEADER = [
    "source_ref",
    "official_ref",
    "conducted_by",
    "trigger",
    "conducted_on",
    "outcome",
    *COMPONENTS,
]
SEPARATION_HEADER = ["source_ref", "official_ref", "reason", "effective_on", "summary"]

SURNAMES = ["HERNANDEZ", "GARCIA", "MARTINEZ", "LOPEZ", "GONZALEZ", "PEREZ", "RODRIGUEZ"]
GIVEN = ["JUAN CARLOS", "MARIA GUADALUPE", "JOSE LUIS", "ANA", "FRANCISCO", "LAURA"]


def official(
    n: int,
    agency: str = "PEJAL",
    *,
    curp: str | None = None,
    dob: dt.date | None = None,
    tier: str = "line",
    **overrides: Any,
) -> dict[str, Any]:
    given = GIVEN[n % len(GIVEN)]
    first = SURNAMES[n % len(SURNAMES)]
    second = SURNAMES[(n // len(SURNAMES) + 1) % len(SURNAMES)]
    born = dob or dt.date(1970, 1, 1) + dt.timedelta(days=97 * n)
    sex = "F" if given in {"MARIA GUADALUPE", "ANA", "LAURA"} else "M"
    row = {
        "source_ref": f"OFF-{n}",
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "date_of_birth": born.isoformat(),
        "sex": sex,
        "curp": curp if curp is not None else make_curp(given, first, second, born, sex),
        "agency": agency,
        "position": "Agente",
        "rank_tier": tier,
        "started_on": "2015-02-01",
    }
    row.update(overrides)
    return row


def evaluation(
    n: int,
    official_ref: str,
    *,
    body: str = "C3JAL",
    results: Mapping[str, str] | None = None,
    conducted_on: str = "2026-06-01",
    trigger: str = "periodic",
    outcome: str = "",
) -> dict[str, Any]:
    given = dict.fromkeys(COMPONENTS, "pass")
    given.update(results or {})
    return {
        "source_ref": f"EV-{n}",
        "official_ref": official_ref,
        "conducted_by": body,
        "trigger": trigger,
        "conducted_on": conducted_on,
        "outcome": outcome,
        **given,
    }


def to_csv(header: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def to_ndjson(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)
