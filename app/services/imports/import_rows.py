"""Reading bulk-import files and validating each row on its own (docs/import.md).

Files are CSV (a header line, then one record per row) or NDJSON (one JSON object per line).
A record becomes the body the API would have received and is validated by the API's own request
model (``OfficialCreate``, ``EvaluationCreate``) and rule functions (R1 identifiers through
``services.officials.prepare_identifiers``), so a row passes exactly when the same request would.
What needs the database (duplicates, the official a row refers to, the policy of R5) is checked
per batch in ``services.imports``.

Nothing here writes; nothing here quotes a raw identifier in a reason (R22).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

from pydantic import ValidationError

from app.config import Settings
from app.domain.access import Principal
from app.domain.outcome import ComponentResult, ComponentType
from app.domain.vocabulary import IdentifierScheme
from app.errors import AppError, FieldError
from app.models import Agency
from app.schemas.evaluation import EvaluationCreate
from app.schemas.imports import ImportFormat, ImportKind, SeparationImportRow
from app.schemas.official import OfficialCreate
from app.services.registry.identifiers import IdentifierCipher
from app.services.registry.officials import (
    IdentifierInput,
    check_personnel_scope,
    prepare_identifiers,
)
from app.services.registry.registry import search_name
from app.services.screening.matching import Identity, blocking_keys

MAX_SOURCE_REF = 120
MAX_REASON = 500

# CSV identifier columns, one per scheme (docs/import.md).
IDENTIFIER_COLUMNS: dict[str, str] = {s.value.lower(): s.value for s in IdentifierScheme}
COMPONENT_COLUMNS: tuple[str, ...] = tuple(c.value for c in ComponentType)

OFFICIAL_COLUMNS = frozenset(
    {
        "source_ref",
        "given_names",
        "first_surname",
        "second_surname",
        "date_of_birth",
        "sex",
        "agency",
        "agency_id",
        "position",
        "rank_tier",
        "started_on",
        *IDENTIFIER_COLUMNS,
    }
)
EVALUATION_COLUMNS = frozenset(
    {
        "source_ref",
        "official_ref",
        "official_id",
        "conducted_by",
        "trigger",
        "conducted_on",
        "outcome",
        "notes",
        *COMPONENT_COLUMNS,
    }
)
SEPARATION_COLUMNS = frozenset(
    {
        "source_ref",
        "official_ref",
        "official_id",
        "appointment_id",
        "reason",
        "effective_on",
        "summary",
    }
)
CSV_COLUMNS: dict[str, frozenset[str]] = {
    ImportKind.OFFICIALS: OFFICIAL_COLUMNS,
    ImportKind.EVALUATIONS: EVALUATION_COLUMNS,
    ImportKind.SEPARATIONS: SEPARATION_COLUMNS,
}


class FileError(Exception):
    """The file as a whole cannot be imported (unreadable header, unknown columns)."""


class RowError(Exception):
    """One row is rejected: ``code`` is the machine code the API answers for the same fault."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:MAX_REASON]


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the file: its first and last physical line, and its fields (or why it
    could not be read)."""

    line: int
    end_line: int
    data: dict[str, Any] | None
    problem: RowError | None = None

    @property
    def source_ref(self) -> str | None:
        if self.data is None:
            return None
        value = self.data.get("source_ref")
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value).strip()
            return text[:MAX_SOURCE_REF] if text else None
        return None


# --- reading -----------------------------------------------------------------------------------


class ByteCounter:
    """Lines of a binary stream, counting the bytes handed out (progress bars)."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None] | None = None) -> None:
        self.stream = stream
        self.position = 0
        self.on_bytes = on_bytes

    def lines(self) -> Iterator[bytes]:
        for raw in self.stream:
            self.position += len(raw)
            if self.on_bytes is not None:
                self.on_bytes(self.position)
            yield raw


def _decoded(lines: Iterable[bytes], bad: set[int]) -> Iterator[str]:
    """UTF-8 lines (a leading BOM dropped); a line that is not UTF-8 is replaced and noted, so
    the record holding it can be rejected without losing the reader's place."""
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(number)
            yield raw.decode("utf-8", errors="replace")


def read_records(
    stream: IO[bytes],
    file_format: str,
    kind: str,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Record]:
    """The records of an import file, in order. Raises ``FileError`` for a CSV header that
    names unknown columns or repeats one (every row would fail the same way)."""
    counter = ByteCounter(stream, on_bytes)
    if file_format == ImportFormat.CSV:
        return _csv_records(counter.lines(), kind)
    if file_format == ImportFormat.NDJSON:
        return _ndjson_records(counter.lines())
    raise FileError(f"unknown format {file_format}")


def _csv_records(lines: Iterable[bytes], kind: str) -> Iterator[Record]:
    bad: set[int] = set()
    reader = csv.reader(_decoded(lines, bad), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise FileError(f"the header line is not valid CSV: {exc}") from None
    columns = [h.strip().lower() for h in header]
    allowed = CSV_COLUMNS[kind]
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise FileError(f"unknown columns for {kind}: {', '.join(sorted(set(unknown)))}")
    if len(set(columns)) != len(columns):
        raise FileError("a column is named twice in the header")
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield Record(start, end, None, RowError("CSV_INVALID", f"not valid CSV: {exc}"))
            previous_end = end
            continue
        end = reader.line_num
        previous_end = end
        if not values or all(not v.strip() for v in values):
            continue  # blank line
        if any(n in bad for n in range(start, end + 1)):
            yield Record(start, end, None, RowError("ENCODING_INVALID", "the line is not UTF-8"))
            continue
        if len(values) != len(columns):
            yield Record(
                start,
                end,
                None,
                RowError(
                    "CSV_INVALID",
                    f"the record has {len(values)} fields, the header {len(columns)}",
                ),
            )
            continue
        data = {c: v.strip() for c, v in zip(columns, values, strict=True) if v.strip() != ""}
        yield Record(start, end, data)


def _ndjson_records(lines: Iterable[bytes]) -> Iterator[Record]:
    bad: set[int] = set()
    for number, text in enumerate(_decoded(lines, bad), start=1):
        if not text.strip():
            continue
        if number in bad:
            yield Record(
                number, number, None, RowError("ENCODING_INVALID", "the line is not UTF-8")
            )
            continue
        try:
            value = json.loads(text)
        except ValueError:
            yield Record(number, number, None, RowError("JSON_INVALID", "not a JSON value"))
            continue
        if not isinstance(value, dict):
            yield Record(number, number, None, RowError("JSON_INVALID", "not a JSON object"))
            continue
        yield Record(number, number, value)


# --- shared helpers ----------------------------------------------------------------------------


AgencyFacts = tuple[uuid.UUID, str, str, bool, str, "str | None"]
"""(id, country, acronym, can_vet, sector, contact): what rows need to know of an agency."""


class AgencyCatalog:
    """Agencies by id and, within the importing country, by acronym. Rows may name an agency
    either way; another country's acronym is unknown here, so it cannot be guessed. Built from
    plain tuples so worker processes can hold one too."""

    def __init__(self, facts: Iterable[AgencyFacts], country: str) -> None:
        self.country = country
        self.facts = list(facts)
        self.by_id: dict[uuid.UUID, Agency] = {}
        self.by_acronym: dict[str, Agency] = {}
        self._resolved: dict[str, Agency | None] = {}
        for agency_id, agency_country, acronym, can_vet, sector, contact in self.facts:
            # Transient (never added to a session): the rule functions only read them.
            agency = Agency(
                id=agency_id,
                country=agency_country,
                acronym=acronym,
                can_vet=can_vet,
                sector=sector,
                contact=contact,
            )
            self.by_id[agency_id] = agency
            if agency_country == country:
                self.by_acronym[acronym.upper()] = agency

    def resolve(self, ref: object) -> Agency | None:
        if not isinstance(ref, str):
            return None
        # Rows name a handful of agencies over and over; the catalog does not change.
        if ref in self._resolved:
            return self._resolved[ref]
        agency = self._resolve(ref)
        if len(self._resolved) < 10_000:
            self._resolved[ref] = agency
        return agency

    def _resolve(self, ref: str) -> Agency | None:
        if not ref.strip():
            return None
        text = ref.strip()
        try:
            return self.by_id.get(uuid.UUID(text))
        except ValueError:
            return self.by_acronym.get(text.upper())


def require_source_ref(record: Record) -> str:
    ref = record.source_ref
    if ref is None:
        raise RowError("SOURCE_REF_MISSING", "source_ref: the record's own id is required")
    raw = record.data.get("source_ref") if record.data else None
    if isinstance(raw, str | int) and len(str(raw).strip()) > MAX_SOURCE_REF:
        raise RowError("VALIDATION_ERROR", f"source_ref: at most {MAX_SOURCE_REF} characters")
    return ref


def _loc(loc: tuple[int | str, ...], aliases: Mapping[tuple[int | str, ...], str]) -> str:
    for length in range(len(loc), 0, -1):
        alias = aliases.get(loc[:length])
        if alias is not None:
            return ".".join([alias, *map(str, loc[length:])])
    return ".".join(map(str, loc)) or "row"


def schema_error(exc: ValidationError, aliases: Mapping[tuple[int | str, ...], str]) -> RowError:
    """A Pydantic error as one row error naming each field (no input values quoted)."""
    parts = [
        f"{_loc(tuple(e['loc']), aliases)}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return RowError("VALIDATION_ERROR", "; ".join(parts))


def app_error(exc: AppError, aliases: Mapping[tuple[int | str, ...], str]) -> RowError:
    """A service's error as a row error: its code, and the field it names as the row's column
    (a ``FieldError`` names the field as the rules know it, never how HTTP carried it)."""
    if isinstance(exc, FieldError):
        loc = tuple(int(p) if p.isdigit() else p for p in exc.field.split(".") if p)
        return RowError(exc.instance_code, f"{_loc(loc, aliases)}: {exc.message}")
    return RowError(exc.instance_code, str(exc))


def _official_ref(data: dict[str, Any]) -> tuple[str | None, uuid.UUID | None]:
    ref, raw_id = data.pop("official_ref", None), data.pop("official_id", None)
    if (ref is None) == (raw_id is None):
        raise RowError("VALIDATION_ERROR", "official_ref, official_id: give exactly one of the two")
    if raw_id is not None:
        try:
            return None, uuid.UUID(str(raw_id))
        except ValueError:
            raise RowError("VALIDATION_ERROR", "official_id: not a UUID") from None
    text = str(ref).strip()
    if not text or len(text) > MAX_SOURCE_REF:
        raise RowError("VALIDATION_ERROR", "official_ref: 1 to 120 characters")
    return text, None


# --- officials ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row refused before it reached the database (picklable, unlike ``RowError``)."""

    line: int
    end_line: int
    source_ref: str | None
    code: str
    reason: str

    @classmethod
    def of(cls, record: Record, error: RowError) -> Rejected:
        return cls(record.line, record.end_line, record.source_ref, error.code, error.reason)


@dataclass(slots=True)
class OfficialRow:
    line: int
    end_line: int
    source_ref: str
    agency_id: uuid.UUID
    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date
    sex: str | None
    position: str
    rank_tier: str
    started_on: dt.date
    identifiers: list[tuple[str, str, str]]  # scheme, compact value, blind index
    name_keys: list[str]
    search_name: str


def _official_body(data: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[int | str, ...], str]]:
    """The API body of an official row, and how its fields map back to the row's columns."""
    data.pop("source_ref", None)
    if "appointment" in data or "identifiers" in data:  # NDJSON in the API's own shape
        given = data.get("appointment")
        if isinstance(given, dict) and "agency" in given:
            renamed = dict(given)
            renamed["agency_id"] = renamed.pop("agency")
            data["appointment"] = renamed
        return data, {}
    aliases: dict[tuple[int | str, ...], str] = {("appointment", "agency_id"): "agency"}
    identifiers: list[dict[str, str]] = []
    for column, scheme in IDENTIFIER_COLUMNS.items():
        value = data.pop(column, None)
        if value is not None:
            aliases[("identifiers", len(identifiers))] = column
            aliases[("identifiers", len(identifiers), "value")] = column
            identifiers.append({"scheme": scheme, "value": value})
    appointment: dict[str, Any] = {}
    for column in ("position", "rank_tier", "started_on"):
        if column in data:
            appointment[column] = data.pop(column)
        aliases[("appointment", column)] = column
    agency = data.pop("agency", None)
    agency_id = data.pop("agency_id", None)
    if agency is not None or agency_id is not None:
        appointment["agency_id"] = agency if agency is not None else agency_id
    return {**data, "identifiers": identifiers, "appointment": appointment}, aliases


def official_row(
    record: Record,
    *,
    catalog: AgencyCatalog,
    actor: Principal,
    settings: Settings,
    today: dt.date,
) -> OfficialRow:
    """Validate an official row as ``POST /officials`` would (R1, R2, R25); raise
    ``RowError``."""
    if record.problem is not None:
        raise record.problem
    assert record.data is not None
    source_ref = require_source_ref(record)
    body, aliases = _official_body(dict(record.data))
    appointment = body.get("appointment")
    agency: Agency | None = None
    if isinstance(appointment, dict) and appointment.get("agency_id") is not None:
        agency = catalog.resolve(appointment["agency_id"])
        if agency is None:
            raise RowError(
                "AGENCY_NOT_FOUND",
                f"{_loc(('appointment', 'agency_id'), aliases)}: no agency with this id or "
                f"acronym in {catalog.country}",
            )
        appointment["agency_id"] = str(agency.id)
    try:
        model = OfficialCreate.model_validate(body)
    except ValidationError as exc:
        raise schema_error(exc, aliases) from None
    assert agency is not None  # the schema requires appointment.agency_id
    try:
        check_personnel_scope(actor, agency)
        if model.date_of_birth >= today:
            raise RowError("VALIDATION_ERROR", "date_of_birth: must be in the past")
        prepared = prepare_identifiers(
            settings,
            [IdentifierInput(i.scheme.value, i.value) for i in model.identifiers],
            date_of_birth=model.date_of_birth,
        )
    except AppError as exc:
        raise app_error(exc, aliases) from None
    second = model.second_surname or None
    # The same keys as services.officials.name_keys: screening finds imported officials alike.
    keys = sorted(
        set(
            blocking_keys(
                Identity(
                    given_names=model.given_names,
                    first_surname=model.first_surname,
                    second_surname=second,
                    date_of_birth=model.date_of_birth,
                )
            )
        )
    )
    return OfficialRow(
        line=record.line,
        end_line=record.end_line,
        source_ref=source_ref,
        agency_id=agency.id,
        country=agency.country,
        given_names=model.given_names,
        first_surname=model.first_surname,
        second_surname=second,
        date_of_birth=model.date_of_birth,
        sex=model.sex,
        position=model.appointment.position,
        rank_tier=model.appointment.rank_tier.value,
        started_on=model.appointment.started_on,
        identifiers=prepared,
        name_keys=keys,
        search_name=fast_search_name(model.given_names, model.first_surname, second),
    )


def fast_search_name(given: str, first: str, second: str | None) -> str:
    """``registry.search_name`` from per-name parts cached on their own (surnames and given
    names repeat a great deal across a population; whole names much less). Equal to it: NFKD,
    dropping combining marks, upper-casing and splitting on whitespace all work character by
    character, and the spaces joining the parts keep them from interacting. A test holds the
    two equal."""
    parts = [_search_part(p) for p in (first, second, given) if p]
    return " ".join(p for p in parts if p)


@lru_cache(maxsize=16_384)
def _search_part(text: str) -> str:
    return search_name(text, "", None)


# Column order of the rows ``prepare_official`` builds (the tables' own columns).
OFFICIAL_COLS = (
    "id",
    "country",
    "given_names",
    "first_surname",
    "second_surname",
    "date_of_birth",
    "sex",
    "search_name",
    "registered_by_agency_id",
    "source_ref",
    "created_at",
    "version",
)
IDENTIFIER_COLS = (
    "id",
    "official_id",
    "scheme",
    "blind_index",
    "ciphertext",
    "created_at",
    "country",
)
NAME_KEY_COLS = ("official_id", "key")
APPOINTMENT_COLS = (
    "id",
    "official_id",
    "agency_id",
    "position",
    "rank_tier",
    "kind",
    "started_on",
    "ended_on",
    "replaces_id",
    "forced_justification",
    "created_at",
    "version",
)


@dataclass(slots=True)
class PreparedOfficial:
    """An accepted official row, ready to insert: one tuple per table row, in the column order
    above (PostgreSQL's COPY gets whole batches instead: ``OfficialBatch``)."""

    line: int
    end_line: int
    source_ref: str
    schemes: tuple[str, ...]
    indexes: tuple[str, ...]
    identity: RowIdentity
    official: tuple[Any, ...] | None = None
    identifiers: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    appointment: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class PrepareContext:
    """What preparing rows needs besides the rows: picklable, so worker processes get one."""

    kind: str
    country: str
    agencies: list[AgencyFacts]
    actor: Principal
    settings: dict[str, Any]
    copy_format: bool

    def materialise(self) -> Prepared:
        return Prepared(self)


class Prepared:
    """A ``PrepareContext`` with its objects built (catalog, settings, cipher)."""

    def __init__(self, ctx: PrepareContext) -> None:
        self.ctx = ctx
        self.catalog = AgencyCatalog(ctx.agencies, ctx.country)
        self.settings = Settings.model_validate(ctx.settings)
        self.cipher = IdentifierCipher(self.settings.identifier_key_bytes)
        self._stamp: tuple[dt.datetime, str] | None = None
        self._agencies: dict[uuid.UUID, str] = {}

    def timestamp(self, now: dt.datetime) -> str:
        """``now`` in COPY text (one batch shares it)."""
        if self._stamp is None or self._stamp[0] != now:
            self._stamp = (now, now.isoformat())
        return self._stamp[1]

    def agency_text(self, agency_id: uuid.UUID) -> str:
        text = self._agencies.get(agency_id)
        if text is None:
            text = self._agencies[agency_id] = str(agency_id)
        return text


def prepare_official(
    record: Record, p: Prepared, *, now: dt.datetime
) -> PreparedOfficial | Rejected:
    """Validate one official row and build its table rows (ids, ciphertexts, name keys)."""
    try:
        row = official_row(
            record, catalog=p.catalog, actor=p.ctx.actor, settings=p.settings, today=now.date()
        )
    except RowError as err:
        return Rejected.of(record, err)
    official_id = uuid.uuid4()
    official = (
        official_id,
        row.country,
        row.given_names,
        row.first_surname,
        row.second_surname,
        row.date_of_birth,
        row.sex,
        row.search_name,
        row.agency_id,
        row.source_ref,
        now,
        1,
    )
    identifiers = [
        (
            uuid.uuid4(),
            official_id,
            scheme,
            index,
            p.cipher.encrypt(compact, scheme=scheme),
            now,
            row.country,
        )
        for scheme, compact, index in row.identifiers
    ]
    keys = [(official_id, k) for k in row.name_keys]
    appointment = (
        uuid.uuid4(),
        official_id,
        row.agency_id,
        row.position,
        row.rank_tier,
        "appointment",
        row.started_on,
        None,
        None,
        None,
        now,
        1,
    )
    out = PreparedOfficial(
        line=row.line,
        end_line=row.end_line,
        source_ref=row.source_ref,
        schemes=tuple(i[0] for i in row.identifiers),
        indexes=tuple(i[2] for i in row.identifiers),
        identity=row_identity(row),
    )
    out.official, out.identifiers, out.keys, out.appointment = (
        official,
        identifiers,
        keys,
        appointment,
    )
    return out


# --- PostgreSQL COPY text format ---------------------------------------------------------------


RowIdentity = tuple[str, str, str | None, dt.date, tuple[str, ...]]
"""(given names, first surname, second surname, date of birth, blocking keys) of a row: what
the writer screens against the listings (R3, ``screening.screen_registrations``)."""

OfficialMeta = tuple[int, int, str, tuple[str, ...], tuple[str, ...], RowIdentity]
"""(line, end_line, source_ref, schemes, blind indexes, identity) of an accepted official
row."""


def row_identity(row: OfficialRow) -> RowIdentity:
    return (
        row.given_names,
        row.first_surname,
        row.second_surname,
        row.date_of_birth,
        tuple(row.name_keys),
    )


@dataclass(slots=True)
class OfficialBatch:
    """A batch of official rows prepared for PostgreSQL's COPY, packed to cross from a worker
    process cheaply: per accepted row only what the writer checks against the database
    (``rows``), and the four tables' COPY text of the whole batch (``texts``) with each row's
    end offsets (``ends``), so rows the writer drops (duplicates) can be cut out. One object
    of a few large strings unpickles an order of magnitude faster than a thousand rows of
    small ones."""

    rejected: list[Rejected]
    rows: list[OfficialMeta]
    texts: tuple[str, str, str, str]  # officials, identifiers, name keys, appointments
    ends: list[tuple[int, int, int, int]]

    def texts_of(self, keep: list[int]) -> tuple[str, str, str, str]:
        """The COPY text of the rows numbered ``keep`` (ascending)."""
        if len(keep) == len(self.rows):
            return self.texts
        parts: tuple[list[str], ...] = ([], [], [], [])
        for i in keep:
            start = self.ends[i - 1] if i else (0, 0, 0, 0)
            end = self.ends[i]
            for t in range(4):
                parts[t].append(self.texts[t][start[t] : end[t]])
        a, b, c, d = ("".join(x) for x in parts)
        return a, b, c, d


def _official_batch(p: Prepared, records: list[Record], now: dt.datetime) -> OfficialBatch:
    rejected: list[Rejected] = []
    rows: list[OfficialMeta] = []
    parts: tuple[list[str], ...] = ([], [], [], [])
    ends: list[tuple[int, int, int, int]] = []
    a = b = c = d = 0
    for record in records:
        try:
            row = official_row(
                record, catalog=p.catalog, actor=p.ctx.actor, settings=p.settings, today=now.date()
            )
        except RowError as err:
            rejected.append(Rejected.of(record, err))
            continue
        texts = _copy_texts(row, p, now)
        for t in range(4):
            parts[t].append(texts[t])
        a, b, c, d = a + len(texts[0]), b + len(texts[1]), c + len(texts[2]), d + len(texts[3])
        ends.append((a, b, c, d))
        rows.append(
            (
                row.line,
                row.end_line,
                row.source_ref,
                tuple(i[0] for i in row.identifiers),
                tuple(i[2] for i in row.identifiers),
                row_identity(row),
            )
        )
    w, x, y, z = ("".join(part) for part in parts)
    return OfficialBatch(rejected, rows, (w, x, y, z), ends)


def _copy_texts(row: OfficialRow, p: Prepared, now: dt.datetime) -> tuple[str, str, str, str]:
    """The four tables' rows of one official as COPY text, in the column orders above. Written
    out by hand: at 5,000 officials a second the generic ``copy_line`` (and ``uuid.UUID``
    objects) are a measurable share."""
    ids = uuid4_texts(2 + len(row.identifiers))
    oid, appointment_id = ids[0], ids[1]
    at = p.timestamp(now)
    agency = p.agency_text(row.agency_id)
    second = _esc(row.second_surname) if row.second_surname is not None else "\\N"
    sex = _esc(row.sex) if row.sex is not None else "\\N"
    official = (
        f"{oid}\t{row.country}\t{_esc(row.given_names)}\t{_esc(row.first_surname)}\t{second}\t"
        f"{row.date_of_birth.isoformat()}\t{sex}\t{_esc(row.search_name)}\t{agency}\t"
        f"{_esc(row.source_ref)}\t{at}\t1\n"
    )
    encrypt = p.cipher.encrypt
    idents = "".join(
        f"{ident_id}\t{oid}\t{scheme}\t{index}\t\\\\x{encrypt(value, scheme=scheme).hex()}\t{at}\t"
        f"{row.country}\n"
        for ident_id, (scheme, value, index) in zip(ids[2:], row.identifiers, strict=True)
    )
    # Blocking keys are upper-case ASCII letters, digits and colons: nothing to escape.
    keys = "".join(f"{oid}\t{k}\n" for k in row.name_keys)
    appt = (
        f"{appointment_id}\t{oid}\t{agency}\t{_esc(row.position)}\t{row.rank_tier}\t"
        f"appointment\t{row.started_on.isoformat()}\t\\N\t\\N\t\\N\t{at}\t1\n"
    )
    return official, idents, keys, appt


def uuid4_texts(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, as ``str(uuid.uuid4())`` gives them, from one
    read of the system's random source; a tenth of the cost of building ``uuid.UUID``s."""
    raw = os.urandom(16 * count)
    out = []
    for start in range(0, 16 * count, 16):
        value = int.from_bytes(raw[start : start + 16]) & _UUID_CLEAR | _UUID_SET
        h = f"{value:032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


# RFC 4122 version 4: the version nibble is 4, the variant bits are 10.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def _esc(text: str) -> str:
    return text.translate(_COPY_ESCAPES)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: object) -> str:
    """One field in COPY's text format (NULL is ``\\N``; bytea as ``\\\\x`` hex)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False).translate(_COPY_ESCAPES)
    return str(value)


def copy_line(values: Iterable[object]) -> str:
    return "\t".join(copy_text(v) for v in values) + "\n"


# --- evaluations -------------------------------------------------------------------------------


@dataclass(slots=True)
class EvaluationRow:
    line: int
    end_line: int
    source_ref: str
    official_ref: str | None
    official_id: uuid.UUID | None
    body_id: uuid.UUID
    body_country: str
    trigger: str
    conducted_on: dt.date
    components: dict[ComponentType, ComponentResult]
    outcome: str | None
    notes: str | None


def _evaluation_body(data: dict[str, Any]) -> dict[str, Any]:
    if "components" in data:
        return data
    components = []
    for column in COMPONENT_COLUMNS:
        value = data.pop(column, None)
        if value is not None:
            components.append({"type": column, "result": value})
    return {**data, "components": components}


def evaluation_row(record: Record, *, catalog: AgencyCatalog) -> EvaluationRow:
    """Validate an evaluation row as ``POST /officials/{id}/evaluations`` would, up to what
    needs the database (the official, the policy of R5: ``services.imports``)."""
    if record.problem is not None:
        raise record.problem
    assert record.data is not None
    source_ref = require_source_ref(record)
    data = dict(record.data)
    data.pop("source_ref", None)
    official_ref, official_id = _official_ref(data)
    if data.get("corrects_id") is not None:
        raise RowError(
            "VALIDATION_ERROR", "corrects_id: corrections are recorded through the API (R8)"
        )
    data.pop("corrects_id", None)
    body = _evaluation_body(data)
    agency: Agency | None = None
    if body.get("conducted_by") is not None:
        agency = catalog.resolve(body["conducted_by"])
        if agency is None:
            raise RowError(
                "AGENCY_NOT_FOUND",
                f"conducted_by: no agency with this id, or acronym in {catalog.country}",
            )
        body["conducted_by"] = str(agency.id)
    try:
        model = EvaluationCreate.model_validate(body)
    except ValidationError as exc:
        raise schema_error(exc, {}) from None
    assert agency is not None
    types = [c.type for c in model.components]
    if len(set(types)) != len(types):
        raise RowError("VALIDATION_ERROR", "components: each component type may appear once")
    if not agency.can_vet:
        raise RowError("NOT_A_VETTING_BODY", "conducted_by: not a vetting body")
    if agency.country != catalog.country:
        raise RowError(
            "NOT_OWN_COUNTRY", "conducted_by: must be a vetting body of your own country"
        )
    return EvaluationRow(
        line=record.line,
        end_line=record.end_line,
        source_ref=source_ref,
        official_ref=official_ref,
        official_id=official_id,
        body_id=agency.id,
        body_country=agency.country,
        trigger=model.trigger.value,
        conducted_on=model.conducted_on,
        components={c.type: c.result for c in model.components},
        outcome=model.outcome.value if model.outcome else None,
        notes=model.notes,
    )


# --- separations -------------------------------------------------------------------------------


@dataclass(slots=True)
class SeparationRow:
    line: int
    end_line: int
    source_ref: str
    official_ref: str | None
    official_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    reason: str
    effective_on: dt.date
    summary: str | None = field(default=None)


def separation_row(record: Record) -> SeparationRow:
    """Validate a separation row as ``POST /officials/{id}/separations`` would, up to what
    needs the database (``services.imports`` calls the service itself, R4)."""
    if record.problem is not None:
        raise record.problem
    assert record.data is not None
    source_ref = require_source_ref(record)
    data = dict(record.data)
    data.pop("source_ref", None)
    official_ref, official_id = _official_ref(data)
    try:
        model = SeparationImportRow.model_validate(data)
    except ValidationError as exc:
        raise schema_error(exc, {}) from None
    return SeparationRow(
        line=record.line,
        end_line=record.end_line,
        source_ref=source_ref,
        official_ref=official_ref,
        official_id=official_id,
        appointment_id=model.appointment_id,
        reason=model.reason.value,
        effective_on=model.effective_on,
        summary=model.summary,
    )


PreparedRow = PreparedOfficial | EvaluationRow | SeparationRow | Rejected
PreparedBatch = list[PreparedRow] | OfficialBatch


def prepare_batch(p: Prepared, records: list[Record], now: dt.datetime) -> PreparedBatch:
    """Everything about a batch that needs no database, in file order."""
    kind = p.ctx.kind
    if kind == ImportKind.OFFICIALS and p.ctx.copy_format:
        return _official_batch(p, records, now)
    out: list[PreparedRow] = []
    for record in records:
        if kind == ImportKind.OFFICIALS:
            out.append(prepare_official(record, p, now=now))
            continue
        try:
            if kind == ImportKind.EVALUATIONS:
                out.append(evaluation_row(record, catalog=p.catalog))
            else:
                out.append(separation_row(record))
        except RowError as err:
            out.append(Rejected.of(record, err))
    return out


# Worker processes (``services.imports`` with ``workers > 0``) keep their context here.
_WORKER: Prepared | None = None


def init_worker(ctx: PrepareContext) -> None:
    global _WORKER
    _WORKER = ctx.materialise()


def prepare_in_worker(records: list[Record], now: dt.datetime) -> PreparedBatch:
    assert _WORKER is not None, "init_worker was not called"
    return prepare_batch(_WORKER, records, now)
