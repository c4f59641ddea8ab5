"""Population generator for the benchmark (DESIGN §6): deterministic from a seed.

It writes import files (docs/import.md) that ``bench.run`` loads through the import path, plus a
JSON manifest of task forces whose rows are inserted directly:

* officials: 70 % Mexican, 30 % U.S. Names come from Faker's ``es_MX`` and ``en_US`` name lists,
  drawn with this module's own seeded generator so the output is stable. Mexican surnames follow
  a Zipf-like law over the most common Mexican surnames (HERNÁNDEZ, GARCÍA, MARTÍNEZ, …) mixed
  with Faker's longer tail, which gives the heavy duplication of real Mexican registries; about a
  third of given names are compound (MARÍA GUADALUPE, JOSÉ LUIS). U.S. surnames follow Faker's
  census weights, with a share of Hispanic surnames as in U.S. agencies.
* identifiers: a valid CURP agreeing with the birth date for every Mexican (namesakes born the
  same day get another differentiator, as RENAPO does), an RFC for some; an SSN and an employee
  number for U.S. officials.
* two evaluations per official on average; about 3 % of officials listed (failed or refused
  vetting, or separated for cause); a few more separated for other reasons.
* 200 task forces of 10–100 members, the first exactly 100 (the roster-compliance benchmark),
  with reciprocal evaluations for their members.

Run it alone with ``python -m bench generate --size 10k --out bench/.data/10k``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from bisect import bisect
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO

from faker.providers.person.en_US import Provider as UsNames
from faker.providers.person.es_MX import Provider as MxNames
from stdnum.exceptions import ValidationError
from stdnum.us import ssn as stdnum_ssn

from app.services.registry.agency_seed import load_seed
from app.services.registry.identifiers import make_curp, make_rfc

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
DEFAULT_SEED = 20261127
# Fixed so that a seed names one population; it must not be in the future when importing.
DEFAULT_AS_OF = dt.date(2026, 6, 30)

# The commonest Mexican surnames, most frequent first (INEGI / RENAPO rankings).
COMMON_MX_SURNAMES = (
    "HERNÁNDEZ GARCÍA MARTÍNEZ LÓPEZ GONZÁLEZ PÉREZ RODRÍGUEZ SÁNCHEZ RAMÍREZ CRUZ FLORES "
    "GÓMEZ MORALES VÁZQUEZ REYES JIMÉNEZ TORRES DÍAZ GUTIÉRREZ RUIZ MENDOZA AGUILAR ORTIZ "
    "MORENO CASTILLO ROMERO ÁLVAREZ MÉNDEZ CHÁVEZ RIVERA JUÁREZ RAMOS DOMÍNGUEZ HERRERA "
    "MEDINA CASTRO VARGAS GUZMÁN VELÁZQUEZ MUÑOZ ROJAS DE LA CRUZ CONTRERAS SALAZAR LUNA "
    "ORTEGA SANTIAGO GUERRERO BAUTISTA CORTÉS SOTO ALVARADO ESPINOZA LARA ÁVILA RÍOS "
    "CERVANTES SILVA DELGADO VEGA MÁRQUEZ SANDOVAL FERNÁNDEZ LEÓN CARRILLO MEJÍA SOLÍS "
    "NÚÑEZ ROSAS VALDEZ IBARRA CAMPOS SANTOS CAMACHO NAVARRO PEÑA MALDONADO ROSALES ACOSTA "
    "MIRANDA TREJO CABRERA VALENCIA NAVA ESTRADA PACHECO ROBLES MOLINA RANGEL FUENTES "
    "HUERTA MEZA AGUIRRE CARDENAS OROZCO PADILLA ESPINOSA AYALA SALAS"
).replace("DE LA CRUZ", "DE_LA_CRUZ")
MX_SURNAMES_HEAD = tuple(s.replace("_", " ") for s in COMMON_MX_SURNAMES.split())
ZIPF_EXPONENT = 0.6
HEAD_SHARE = 0.60  # share of Mexican surnames drawn from the head list; the rest from Faker's
US_HISPANIC_SHARE = 0.18
MX_SHARE = 0.70
# RENAPO state codes of CURP position 12-13 (as stdnum.mx.curp knows them), without NE (abroad).
_STATE_CODES = (
    "AS BC BS CC CH CL CM CS DF DG GR GT HG JC MC MN MS NL NT OC PL QR QT SL SP SR TC TL TS"
)
_STATE_CODES += " VZ YN ZS"
MX_STATES = tuple(_STATE_CODES.split())
POSITIONS = {
    "MX": {
        "line": "Agente",
        "supervisory": "Supervisor",
        "command": "Comandante",
        "executive": "Director",
    },
    "US": {
        "line": "Special Agent",
        "supervisory": "Supervisory Special Agent",
        "command": "Special Agent in Charge",
        "executive": "Assistant Director",
    },
}
TIERS = (("line", 0.70), ("supervisory", 0.20), ("command", 0.08), ("executive", 0.02))
COMPONENTS = (
    "polygraph",
    "background",
    "financial",
    "toxicology",
    "psychological",
    "medical",
    "socioeconomic",
)
US_OPTIONAL = ("polygraph", "socioeconomic")  # not required of U.S. non-senior tiers (R14)
FOCUS = (
    "fentanyl",
    "weapons",
    "money_laundering",
    "corruption",
    "kidnapping",
    "extortion",
    "human_trafficking",
    "other",
)
TASK_FORCES = 200

# Shares of officials (DESIGN §6: about 3 % listed).
P_FAIL = 0.016  # last evaluation fails → failed_vetting listing
P_REFUSED = 0.006  # last evaluation refused → refused_vetting listing
P_FOR_CAUSE = 0.008  # separated for cause → expelled listing
P_FAILED_THEN_SEPARATED = 0.30  # of the failed: also separated for failed_vetting (R4 joins)
P_SEPARATED_OTHER = 0.03
P_INCONCLUSIVE = 0.02
P_RFC = 0.40
P_OUTCOME_GIVEN = 0.5


def _upper(text: str) -> str:
    return text.upper()


@dataclass
class Files:
    officials: dict[str, str] = field(default_factory=dict)  # country → file
    evaluations: dict[str, str] = field(default_factory=dict)
    reciprocal: dict[str, str] = field(default_factory=dict)  # importing country → file
    separations: dict[str, str] = field(default_factory=dict)


@dataclass
class Manifest:
    size: int
    seed: int
    as_of: str
    files: Files
    counts: dict[str, int]
    task_forces: list[dict[str, Any]]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> Manifest:
        raw = json.loads(path.read_text())
        raw["files"] = Files(**raw["files"])
        return cls(**raw)


class Names:
    """Name draws from Faker's lists with our own generator (stable across runs)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mx_male = [_upper(n) for n in MxNames.first_names_male]
        self.mx_female = [_upper(n) for n in MxNames.first_names_female]
        tail = [_upper(n) for n in MxNames.last_names]
        head = list(MX_SURNAMES_HEAD)
        head_set = set(head)
        self.mx_tail = [t for t in tail if t not in head_set]
        weights = [1.0 / (rank**ZIPF_EXPONENT) for rank in range(1, len(head) + 1)]
        self.mx_head = head
        self.mx_head_cum = list(accumulate(weights))
        self.us_male, self.us_male_cum = _weighted(UsNames.first_names_male)
        self.us_female, self.us_female_cum = _weighted(UsNames.first_names_female)
        self.us_last, self.us_last_cum = _weighted(UsNames.last_names)

    def _pick(self, items: list[str], cum: list[float]) -> str:
        return items[bisect(cum, self.rng.random() * cum[-1])]

    def mx_surname(self) -> str:
        if self.rng.random() < HEAD_SHARE:
            return self._pick(self.mx_head, self.mx_head_cum)
        return self.rng.choice(self.mx_tail)

    def mx_given(self, male: bool) -> str:
        names = self.mx_male if male else self.mx_female
        first = self.rng.choice(names)
        r = self.rng.random()
        if r < 0.12:
            lead = "JOSÉ" if male else "MARÍA"
            return f"{lead} {first}" if first not in {"JOSÉ", "MARÍA"} else first
        if r < 0.33:
            second = self.rng.choice(names)
            return first if second == first else f"{first} {second}"
        return first

    def us_given(self, male: bool) -> str:
        if male:
            return _upper(self._pick(self.us_male, self.us_male_cum))
        return _upper(self._pick(self.us_female, self.us_female_cum))

    def us_surname(self) -> str:
        if self.rng.random() < US_HISPANIC_SHARE:
            return self.mx_surname()
        return _upper(self._pick(self.us_last, self.us_last_cum))


def _weighted(table: Any) -> tuple[list[str], list[float]]:
    items = list(table.items()) if hasattr(table, "items") else [(n, 1.0) for n in table]
    return [n for n, _ in items], list(accumulate(w for _, w in items))


def _tier(rng: random.Random) -> str:
    r, acc = rng.random(), 0.0
    for tier, share in TIERS:
        acc += share
        if r < acc:
            return tier
    return TIERS[0][0]


def _days(rng: random.Random, low: dt.date, high: dt.date) -> dt.date:
    if high <= low:
        return low
    return low + dt.timedelta(days=rng.randrange((high - low).days + 1))


class _Writers:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.handles: list[TextIO] = []
        self.files = Files()

    def open(self, group: str, country: str, header: list[str]) -> csv.DictWriter[str]:
        name = f"{group}_{country.lower()}.csv"
        handle = (self.out / name).open("w", newline="", encoding="utf-8")
        self.handles.append(handle)
        getattr(self.files, group)[country] = name
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        return writer

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


OFFICIAL_HEADER = [
    "source_ref",
    "given_names",
    "first_surname",
    "second_surname",
    "date_of_birth",
    "sex",
    "curp",
    "rfc",
    "ssn",
    "employee_id",
    "agency",
    "position",
    "rank_tier",
    "started_on",
]
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


def generate(
    out: Path,
    *,
    size: int,
    seed: int = DEFAULT_SEED,
    as_of: dt.date = DEFAULT_AS_OF,
    task_forces: int = TASK_FORCES,
) -> Manifest:
    """Write a population of ``size`` officials into ``out``; the same arguments give the same
    bytes."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = Names(rng)
    seed_agencies = load_seed()
    employers = {
        c: [
            a.acronym
            for a in seed_agencies
            if a.country.value == c and a.sector.value != "policy" and not a.can_vet
        ]
        for c in ("MX", "US")
    }
    bodies = {
        c: [a.acronym for a in seed_agencies if a.country.value == c and a.can_vet]
        for c in ("MX", "US")
    }
    lead_agencies = [
        (a.country.value, a.acronym)
        for a in seed_agencies
        if a.sector.value == "law_enforcement" and not a.can_vet
    ]
    w = _Writers(out)
    officials = {c: w.open("officials", c, OFFICIAL_HEADER) for c in ("MX", "US")}
    evaluations = {c: w.open("evaluations", c, EVALUATION_HEADER) for c in ("MX", "US")}
    separations = {c: w.open("separations", c, SEPARATION_HEADER) for c in ("MX", "US")}
    counts = {
        "officials": 0,
        "evaluations": 0,
        "separations": 0,
        "expected_listed": 0,
        "task_force_members": 0,
    }
    curps: set[str] = set()
    rfcs: set[str] = set()
    ssns: set[str] = set()
    pool: list[tuple[str, str, str]] = []  # (source_ref, country, tier) of officials still serving
    pool_rate = min(1.0, 40_000 / size)
    eval_n = sep_n = 0

    for n in range(size):
        country = "MX" if rng.random() < MX_SHARE else "US"
        male = rng.random() < 0.62
        sex = "M" if male else "F"
        born = _days(rng, as_of - dt.timedelta(days=62 * 365), as_of - dt.timedelta(days=21 * 365))
        started = _days(rng, born + dt.timedelta(days=21 * 365), as_of - dt.timedelta(days=60))
        tier = _tier(rng)
        agency = rng.choice(employers[country])
        ref = f"{country}-{n:07d}"
        row: dict[str, Any] = {
            "source_ref": ref,
            "date_of_birth": born.isoformat(),
            "sex": sex,
            "agency": agency,
            "position": POSITIONS[country][tier],
            "rank_tier": tier,
            "started_on": started.isoformat(),
        }
        if country == "MX":
            given, first = names.mx_given(male), names.mx_surname()
            second = names.mx_surname() if rng.random() < 0.97 else ""
            state = rng.choice(MX_STATES)
            curp = ""
            for diff in _differentiators(born):
                curp = make_curp(
                    given, first, second or None, born, sex, state, differentiator=diff
                )
                if curp not in curps:
                    curps.add(curp)
                    break
            row.update(given_names=given, first_surname=first, second_surname=second, curp=curp)
            if rng.random() < P_RFC:
                for hc in range(40):
                    homoclave = None if hc == 0 else _homoclave(rng)
                    rfc = make_rfc(given, first, second or None, born, homoclave=homoclave)
                    if rfc not in rfcs:
                        rfcs.add(rfc)
                        row["rfc"] = rfc
                        break
        else:
            given, first = names.us_given(male), names.us_surname()
            row.update(given_names=given, first_surname=first, second_surname="")
            row["ssn"] = _ssn(rng, ssns)
            row["employee_id"] = f"{agency.replace('-', '')}{n:08d}"
        officials[country].writerow(row)
        counts["officials"] += 1

        # Evaluations: recruitment, then 0–2 later ones (two on average).
        senior = tier in {"command", "executive"}
        history = [
            max(
                started - dt.timedelta(days=rng.randrange(10, 90)),
                born + dt.timedelta(days=18 * 365),
            )
        ]
        extra = rng.choices((0, 1, 2), weights=(0.15, 0.70, 0.15))[0]
        for _ in range(extra):
            history.append(
                _days(
                    rng,
                    max(history[-1] + dt.timedelta(days=30), as_of - dt.timedelta(days=44 * 30)),
                    as_of - dt.timedelta(days=1),
                )
            )
        fate = rng.random()
        failed = fate < P_FAIL
        refused = P_FAIL <= fate < P_FAIL + P_REFUSED
        for_cause = P_FAIL + P_REFUSED <= fate < P_FAIL + P_REFUSED + P_FOR_CAUSE
        inconclusive = not (failed or refused or for_cause) and rng.random() < P_INCONCLUSIVE
        for i, day in enumerate(history):
            last = i == len(history) - 1
            results = {c: "pass" for c in COMPONENTS}
            if country == "US" and not senior and rng.random() < 0.5:
                results["polygraph"] = "not_applicable"
            outcome = "pass"
            if last and failed:
                results[rng.choice(("polygraph", "toxicology", "financial", "background"))] = "fail"
                outcome = "fail"
            elif last and refused:
                results[rng.choice(("polygraph", "toxicology"))] = "refused"
                outcome = "refused"
            elif last and inconclusive:
                results[rng.choice(("background", "financial", "psychological"))] = "inconclusive"
                outcome = "inconclusive"
            eval_n += 1
            evaluations[country].writerow(
                {
                    "source_ref": f"EV-{eval_n:08d}",
                    "official_ref": ref,
                    "conducted_by": rng.choice(bodies[country]),
                    "trigger": "recruitment"
                    if i == 0
                    else rng.choice(("periodic", "recertification", "promotion")),
                    "conducted_on": day.isoformat(),
                    "outcome": outcome if rng.random() < P_OUTCOME_GIVEN else "",
                    **results,
                }
            )
            counts["evaluations"] += 1
        separated = False
        if failed and rng.random() < P_FAILED_THEN_SEPARATED:
            separated = True
            reason = "failed_vetting"
            effective = min(history[-1] + dt.timedelta(days=30), as_of)
        elif for_cause:
            separated = True
            reason = rng.choice(
                ("dismissal_for_cause", "expelled_corruption", "expelled_human_rights")
            )
            effective = _days(rng, started + dt.timedelta(days=1), as_of)
        elif rng.random() < P_SEPARATED_OTHER:
            separated = True
            reason = rng.choice(("resignation", "retirement", "transfer", "other"))
            effective = _days(rng, started + dt.timedelta(days=1), as_of)
        if separated:
            sep_n += 1
            separations[country].writerow(
                {
                    "source_ref": f"SEP-{sep_n:08d}",
                    "official_ref": ref,
                    "reason": reason,
                    "effective_on": max(effective, started).isoformat(),
                    "summary": "",
                }
            )
            counts["separations"] += 1
        if failed or refused or for_cause:
            counts["expected_listed"] += 1
        if not separated and rng.random() < pool_rate:
            pool.append((ref, country, tier))
    w.close()

    # Task forces: members drawn from serving officials, the first one exactly 100 strong.
    reciprocal = {
        c: (out / f"reciprocal_{c.lower()}.csv").open("w", newline="", encoding="utf-8")
        for c in ("MX", "US")
    }
    rec_writers = {
        c: csv.DictWriter(h, fieldnames=EVALUATION_HEADER, lineterminator="\n")
        for c, h in reciprocal.items()
    }
    for writer in rec_writers.values():
        writer.writeheader()
    rosters: list[dict[str, Any]] = []
    reciprocal_done: set[str] = set()
    for t in range(task_forces):
        members_n = 100 if t == 0 else rng.randint(10, 100)
        members = rng.sample(pool, min(members_n, len(pool)))
        lead_country, lead = rng.choice(lead_agencies)
        roster = []
        for i, (ref, country, _) in enumerate(members):
            role = "lead" if i == 0 else ("senior" if rng.random() < 0.1 else "member")
            roster.append({"source_ref": ref, "role": role})
            # A reciprocal pass by the other country's vetting body for most members (R17).
            if ref not in reciprocal_done and rng.random() < 0.85:
                reciprocal_done.add(ref)
                other = "US" if country == "MX" else "MX"
                eval_n += 1
                results = {c: "pass" for c in COMPONENTS}
                rec_writers[other].writerow(
                    {
                        "source_ref": f"EV-{eval_n:08d}",
                        "official_ref": ref,
                        "conducted_by": rng.choice(bodies[other]),
                        "trigger": "reciprocal",
                        "conducted_on": _days(
                            rng, as_of - dt.timedelta(days=300), as_of - dt.timedelta(days=1)
                        ).isoformat(),
                        "outcome": "",
                        **results,
                    }
                )
                counts["evaluations"] += 1
        counts["task_force_members"] += len(roster)
        rosters.append(
            {
                "name": f"Joint Task Force {t + 1:03d}",
                "focus": FOCUS[t % len(FOCUS)],
                "lead_country": lead_country,
                "lead_agency": lead,
                "members": roster,
                "joined_on": _days(rng, as_of - dt.timedelta(days=365), as_of).isoformat(),
            }
        )
    for handle in reciprocal.values():
        handle.close()
    w.files.reciprocal = {c: f"reciprocal_{c.lower()}.csv" for c in ("MX", "US")}
    manifest = Manifest(
        size=size,
        seed=seed,
        as_of=as_of.isoformat(),
        files=w.files,
        counts=counts,
        task_forces=rosters,
    )
    manifest.write(out / "manifest.json")
    return manifest


def _differentiators(born: dt.date) -> list[str]:
    if born.year >= 2000:
        return [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    return [str(d) for d in range(10)]


_HC1 = "123456789ABCDEFGHIJKLMNOPQRSTUV"
_HC2 = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _homoclave(rng: random.Random) -> str:
    return rng.choice(_HC1) + rng.choice(_HC2)


def _ssn(rng: random.Random, seen: set[str]) -> str:
    while True:
        value = (
            f"{rng.randrange(1, 900):03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"
        )
        if value in seen:
            continue
        try:
            stdnum_ssn.validate(value)
        except ValidationError:
            continue
        seen.add(value)
        return value


def surname_share(path: Path, top: int = 5) -> list[tuple[str, float]]:
    """The most frequent first surnames of a generated officials file (a sanity check)."""
    counts: dict[str, int] = {}
    total = 0
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts[row["first_surname"]] = counts.get(row["first_surname"], 0) + 1
            total += 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return [(name, round(100.0 * c / max(total, 1), 2)) for name, c in ranked]


__all__ = ["DEFAULT_AS_OF", "DEFAULT_SEED", "SIZES", "Manifest", "generate", "surname_share"]
