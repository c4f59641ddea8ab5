"""Reading files and formatting rows, without a database."""

from __future__ import annotations

import datetime as dt
import io
import uuid

from app.config import Settings
from app.domain.access import Principal
from app.services.imports.import_rows import (
    OfficialBatch,
    PrepareContext,
    Record,
    Rejected,
    copy_line,
    prepare_batch,
    read_records,
)
from tests.imports.support import OFFICIAL_HEADER, official, to_csv


def _records(text: str, fmt: str = "csv") -> list[Record]:
    return list(read_records(io.BytesIO(text.encode()), fmt, "officials"))


def test_csv_records_keep_their_line_numbers() -> None:
    text = (
        "\ufeffsource_ref,given_names,first_surname\n"
        'A,"JUAN\nCARLOS",LOPEZ\n'
        "\n"
        "B,ANA\n"
        "C,ROSA,PEREZ\n"
    )
    got = _records(text)
    assert [(r.line, r.end_line) for r in got] == [(2, 3), (5, 5), (6, 6)]
    assert got[0].data == {
        "source_ref": "A",
        "given_names": "JUAN\nCARLOS",
        "first_surname": "LOPEZ",
    }
    assert got[1].problem is not None
    assert got[1].problem.code == "CSV_INVALID"
    assert got[2].source_ref == "C"


def test_invalid_utf8_rejects_only_its_record() -> None:
    data = b"source_ref,given_names\nA,JOS\xc9\nB,ANA\n"
    got = list(read_records(io.BytesIO(data), "csv", "officials"))
    assert got[0].problem is not None
    assert got[0].problem.code == "ENCODING_INVALID"
    assert got[1].data == {"source_ref": "B", "given_names": "ANA"}


def test_copy_text_written_by_hand_equals_the_generic_form(settings: Settings) -> None:
    facts = [(uuid.uuid4(), "MX", "PEJAL", False, "law_enforcement", None)]
    actor = Principal(
        user_id=uuid.uuid4(),
        username="a",
        roles=frozenset({"admin"}),
        country="MX",
        agency_id=None,
        via="test",
    )
    rows = [official(1, given_names="JOSÉ\tLUIS"), official(2, second_surname="")]
    records = _records(to_csv(OFFICIAL_HEADER, rows))
    now = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    dump = settings.model_dump()
    copy = prepare_batch(
        PrepareContext("officials", "MX", facts, actor, dump, True).materialise(), records, now
    )
    plain = prepare_batch(
        PrepareContext("officials", "MX", facts, actor, dump, False).materialise(), records, now
    )
    assert isinstance(copy, OfficialBatch)
    assert not copy.rejected
    assert len(copy.rows) == len(plain) == 2
    for n, p in enumerate(plain):
        assert not isinstance(p, Rejected)
        assert p.official is not None
        assert p.appointment is not None
        assert copy.rows[n] == (p.line, p.end_line, p.source_ref, p.schemes, p.indexes, p.identity)
        # Ids and ciphertexts are fresh per preparation: compare the shapes with them swapped in.
        official_line, ident_lines, key_lines, appt_line = copy.texts_of([n])
        oid = official_line.split("\t", 1)[0]
        expected_official = copy_line((uuid.UUID(oid), *p.official[1:]))
        assert official_line == expected_official
        assert key_lines == "".join(copy_line((uuid.UUID(oid), k)) for _, k in p.keys)
        appt_id = appt_line.split("\t", 1)[0]
        assert appt_line == copy_line((uuid.UUID(appt_id), uuid.UUID(oid), *p.appointment[2:]))
        assert ident_lines.count("\n") == len(p.identifiers)
        assert "\\\\x" in ident_lines
        for line in ident_lines.splitlines():
            ident_id, owner, scheme, _index, _cipher, _at, country = line.split("\t")
            assert owner == oid
            assert country == "MX"  # the official's: identifiers are unique per country (#18 F4)
            assert uuid.UUID(ident_id).version == 4
            assert scheme in p.schemes
    # The rows cut out of the batch, joined, are the batch.
    assert copy.texts_of([0, 1]) == copy.texts
    assert tuple(a + b for a, b in zip(copy.texts_of([0]), copy.texts_of([1]), strict=True)) == (
        copy.texts
    )
