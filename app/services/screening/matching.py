"""Identity matching for screening before hiring (R11, R12a).

Pure: no database, no HTTP. The screening service retrieves candidates by equality on
``blocking_keys`` (one indexed row per key), scores each with ``score`` and classifies the score
with ``band_for`` / ``verdict_for``. The method, its weights and its measured precision and recall
are described in docs/matching.md; the labelled pairs it is measured on are in
tests/data/name_pairs.csv.

Scores do not saturate (R12a): only an identity that is the same after normalisation scores 100,
and every deviation costs something, so two strong candidates stay distinguishable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Final, Literal

from rapidfuzz.distance import OSA

from app.domain.names import normalise_name

__all__ = [
    "DEFAULT_HIGH_THRESHOLD",
    "DEFAULT_REVIEW_THRESHOLD",
    "MAX_BLOCKING_KEYS",
    "Band",
    "DobRelation",
    "Identity",
    "MatchResult",
    "PreparedIdentity",
    "Verdict",
    "band_for",
    "blocking_keys",
    "combine_verdicts",
    "dob_relation",
    "given_name_tokens",
    "phonetic_key",
    "prepare",
    "score",
    "surname_tokens",
    "verdict_for",
]

Band = Literal["high", "review", "none"]
Verdict = Literal["clear", "review", "listed"]
DobRelation = Literal[
    "exact", "day_month_swapped", "one_digit_typo", "digits_transposed", "year_only", "mismatch"
]

# Bands (R11). The service exposes them as settings; these are the values measured in
# docs/matching.md. HIGH sits above "exact names, one-digit birth-date typo" (88) on purpose: a
# common name has dozens of namesakes within one digit of any date, so that case goes to a human.
DEFAULT_HIGH_THRESHOLD: Final = 90.0
DEFAULT_REVIEW_THRESHOLD: Final = 70.0

MAX_BLOCKING_KEYS: Final = 8

# Weights of the name parts; they sum to 1. The paternal (first) surname is the most stable part
# of a Mexican name, the given names the most informative; the second surname is often missing.
W_GIVEN: Final = 0.40
W_FIRST: Final = 0.35
W_SECOND: Final = 0.25

# Similarity granted to each kind of known variation (1.0 is "identical after normalisation").
NEAR_EXACT: Final = 0.99  # same once particles, spacing or suffixes are ignored
ABBREVIATION: Final = 0.97  # MA. -> MARIA, FCO -> FRANCISCO, HDZ -> HERNANDEZ
NICKNAME: Final = 0.95  # PACO -> FRANCISCO, BILL -> WILLIAM
PHONETIC: Final = 0.95  # GONZALES ~ GONZALEZ, VASQUEZ ~ VAZQUEZ
ONE_EDIT: Final = 0.90  # one typo (substitution, insertion, deletion, transposition)
INITIAL: Final = 0.90  # J. against JOSE
COMPOUND_PART: Final = 0.95  # LOPEZ against LOPEZ DE GARCIA, SMITH against SMITH JONES
GENDER_VARIANT: Final = 0.60  # GABRIEL / GABRIELA: twins, not a typo
CONFUSABLE: Final = 0.80  # HERNANDEZ / FERNANDEZ: one edit, but both are real names
EXTRA_MINOR: Final = 0.95  # one side adds MARIA / JOSE / JUAN or an initial
EXTRA_MAJOR: Final = 0.85  # one side adds a distinctive given name (JOHN vs JOHN MICHAEL)
REORDERED: Final = 0.98  # LUIS JOSE against JOSE LUIS
MISSING_SECOND: Final = 0.80  # one side has no second surname: no evidence either way
SWAPPED: Final = 0.97  # surnames in the other order
MERGED: Final = 0.98  # both surnames typed into one field (GARCIA-LOPEZ)

# Below this similarity a part is more likely another name than a typo; _credit() then falls
# off steeply so one clearly different part cannot be outweighed by the others.
CREDIT_KNEE: Final = 0.90
CREDIT_FLOOR: Final = 0.50

# Birth-date factor, multiplied into the name score.
DOB_FACTORS: Final[dict[DobRelation, float]] = {
    "exact": 1.0,
    "day_month_swapped": 0.96,  # a single alternative date: nearly as strong as exact
    "one_digit_typo": 0.88,
    "digits_transposed": 0.88,
    "year_only": 0.75,  # placeholders (01-01) and partial records; a human must look
    "mismatch": 0.60,
}

# Dropped from names, because data entry keeps or drops them at will.
_PARTICLES: Final = frozenset({"DE", "DEL", "LA", "LAS", "LOS", "Y", "DA", "DAS", "DOS", "DI"})
# In VAN DER BERG the particles are part of the name and often written joined (VANDERBERG).
_KEEP_PARTICLES_AFTER: Final = frozenset({"VAN", "VON"})
_SUFFIXES: Final = frozenset({"JR", "SR", "II", "III", "IV"})
# How registries write "no second surname" (CURP uses X).
_NO_SURNAME: Final = frozenset({"", "X", "XX", "XXX", "N A", "S N"})
# Given names that are routinely dropped in daily use (MARIA GUADALUPE is called GUADALUPE).
_LEAD_NAMES: Final = frozenset({"MARIA", "JOSE", "JUAN"})

_GIVEN_ABBREVIATIONS: Final[dict[str, str]] = {
    "MA": "MARIA",
    "GPE": "GUADALUPE",
    "FCO": "FRANCISCO",
    "FCA": "FRANCISCA",
    "ANT": "ANTONIO",
    "ALEJ": "ALEJANDRO",
    "GMO": "GUILLERMO",
    "FDO": "FERNANDO",
    "WM": "WILLIAM",
    "CHAS": "CHARLES",
    "THOS": "THOMAS",
    "JAS": "JAMES",
    "ROBT": "ROBERT",
    "JNO": "JOHN",
    "GEO": "GEORGE",
    "EDW": "EDWARD",
    "BENJ": "BENJAMIN",
}
# Only unambiguous nicknames: BETO (ALBERTO, ROBERTO, HUMBERTO) or CHRIS would merge people.
_GIVEN_NICKNAMES: Final[dict[str, str]] = {
    "PACO": "FRANCISCO",
    "PANCHO": "FRANCISCO",
    "PEPE": "JOSE",
    "LUPE": "GUADALUPE",
    "CHUY": "JESUS",
    "CHUCHO": "JESUS",
    "NACHO": "IGNACIO",
    "MEMO": "GUILLERMO",
    "LALO": "EDUARDO",
    "CONCHA": "CONCEPCION",
    "BILL": "WILLIAM",
    "BILLY": "WILLIAM",
    "BOB": "ROBERT",
    "BOBBY": "ROBERT",
    "JIM": "JAMES",
    "JIMMY": "JAMES",
    "MIKE": "MICHAEL",
    "DICK": "RICHARD",
    "RICK": "RICHARD",
    "TOM": "THOMAS",
    "JOE": "JOSEPH",
    "DAVE": "DAVID",
    "TONY": "ANTHONY",
    "LIZ": "ELIZABETH",
    "PEGGY": "MARGARET",
}
# Northern-Mexico shorthand for the commonest surnames.
_SURNAME_ABBREVIATIONS: Final[dict[str, str]] = {
    "HDZ": "HERNANDEZ",
    "HRZ": "HERNANDEZ",
    "GLZ": "GONZALEZ",
    "GZZ": "GONZALEZ",
    "MTZ": "MARTINEZ",
    "RDZ": "RODRIGUEZ",
    "FDZ": "FERNANDEZ",
    "GTZ": "GUTIERREZ",
    "RMZ": "RAMIREZ",
    "SCHZ": "SANCHEZ",
    "LPZ": "LOPEZ",
    "PRZ": "PEREZ",
    "JMZ": "JIMENEZ",
}

# Real, distinct names one edit apart. A slip between them is possible, but so is a different
# person, so they get CONFUSABLE (enough for review) instead of ONE_EDIT (enough for high).
_CONFUSABLE_PAIRS: Final = frozenset(
    frozenset(pair)
    for pair in (
        ("HERNANDEZ", "FERNANDEZ"),
        ("JUAREZ", "SUAREZ"),
        ("DIAZ", "DIEZ"),
        ("VEGA", "VERA"),
        ("ROSAS", "ROJAS"),
        ("MORA", "MOYA"),
        ("MORA", "MOTA"),
        ("PENA", "PINA"),
        ("PINEDA", "PINEDO"),
        ("JOHNSON", "JOHNSTON"),
        ("THOMPSON", "THOMSON"),
        ("PETERSON", "PETERSEN"),
        ("ANDERSON", "ANDERSEN"),
        ("HANSON", "HANSEN"),
        ("MARIA", "MARTA"),
        ("MARIO", "DARIO"),
        ("RAUL", "SAUL"),
        ("SONIA", "SOFIA"),
        ("ELSA", "ELISA"),
        ("JAIME", "JAIRO"),
        ("JOHN", "JOAN"),
        ("JEAN", "JOAN"),
        ("MARK", "MARY"),
        ("ERIC", "ERIN"),
        ("JANE", "JUNE"),
    )
)

# Bit flags recording which rule produced a similarity; they become the boolean features.
_PARTICLES_DIFFER: Final = 1
_ABBREVIATION: Final = 2
_NICKNAME: Final = 4
_INITIAL: Final = 8
_PARTIAL: Final = 16
_REORDERED: Final = 32
_GENDER: Final = 64
_PHONETIC: Final = 128
_CONFUSABLE: Final = 256

# Entries per cache. Names follow Zipf's law, so a few thousand distinct names cover most
# screenings; full, all the caches together hold about 20 MB (measured in docs/matching.md).
_CACHE_SIZE: Final = 8_192


# --------------------------------------------------------------------------------------------
# Normalisation (``normalise_name`` itself lives in ``app.domain.names``, where schemas reach it)


def _core_tokens(normalised: str) -> tuple[str, ...]:
    """Tokens without particles and generational suffixes; never empty if the name was not."""
    tokens = tuple(normalised.split())
    if _KEEP_PARTICLES_AFTER.isdisjoint(tokens):
        kept = tuple(t for t in tokens if t not in _PARTICLES and t not in _SUFFIXES)
    else:
        kept = tuple(t for t in tokens if t not in _SUFFIXES)
    # A name made only of particles ("DE LA") is still a name: keep it rather than lose it.
    return kept or tokens


# Spanish and English spelling variants that sound alike, applied in order. The aim is not a
# full phonetic algorithm (Soundex and Metaphone are English-only and too coarse for Spanish
# surnames) but the handful of spellings that clerks actually confuse.
_PHONETIC_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile("^MAC"), "MC"),  # MACDONALD ~ MCDONALD
    (re.compile("PH"), "F"),
    (re.compile("[CS]H"), "X"),  # CH and SH: one sound each, keep them apart from C and S
    (re.compile("QU|CK"), "K"),
    (re.compile("G(?=[EI])"), "J"),  # soft G: GIMENEZ ~ JIMENEZ, GERARDO ~ JERARDO
    (re.compile("GU(?=[EI])"), "G"),  # GUI/GUE keep a hard G (runs after the rule above)
    (re.compile("C(?=[EI])"), "S"),  # seseo: CESAR ~ SESAR
    (re.compile("C"), "K"),
    (re.compile("Z"), "S"),  # seseo: GONZALEZ ~ GONZALES
    (re.compile("V"), "B"),  # betacismo: VAZQUEZ ~ BAZQUEZ
    (re.compile("Y"), "I"),  # REYES ~ REIES
    (re.compile("H"), ""),  # silent in Spanish: HERNANDEZ ~ ERNANDEZ
    # Doubled letters: RR, SS, TT, and LL, which is not mapped to Y (yeismo) because dropping
    # one L of CASTILLO or PHILLIPS is a far commoner slip than writing CASTIYO.
    (re.compile(r"(.)\1+"), r"\1"),
)
_VOWELS: Final = re.compile("[AEIOU]")
_SKELETON_LENGTH: Final = 6


@lru_cache(maxsize=_CACHE_SIZE)
def _phonetic(compact: str) -> str:
    for pattern, replacement in _PHONETIC_RULES:
        compact = pattern.sub(replacement, compact)
    return compact


def phonetic_key(text: str) -> str:
    """The phonetic reduction of a name, its words joined (DE LA CRUZ -> KRUS)."""
    return _phonetic("".join(_core_tokens(normalise_name(text))))


def _skeleton(phonetic: str) -> str:
    """First sound plus consonants, for blocking: vowel typos (MARTENEZ) still collide."""
    if not phonetic:
        return ""
    rest = re.sub(r"(.)\1+", r"\1", _VOWELS.sub("", phonetic[1:]))
    return (phonetic[0] + rest)[:_SKELETON_LENGTH]


# Normalised forms are interned by the caches below, so they compare and hash by identity
# (eq=False): cheap, and equal texts share one object anyway.
@dataclass(frozen=True, slots=True, eq=False)
class _Token:
    raw: str  # as written, normalised
    canon: str  # after abbreviation / nickname expansion
    phon: str
    flag: int  # _ABBREVIATION or _NICKNAME when canon differs from raw


@dataclass(frozen=True, slots=True, eq=False)
class _Given:
    norm: str
    tokens: tuple[_Token, ...]
    key: tuple[str, ...]  # raw tokens, for the fast equality path
    initials: tuple[str, ...]  # distinct initials of canonical tokens, in order


@dataclass(frozen=True, slots=True, eq=False)
class _Surname:
    norm: str
    tokens: tuple[str, ...]  # canonical, without particles or suffixes
    phons: tuple[str, ...]
    skeletons: tuple[str, ...]  # per token, for blocking keys
    compact: str  # tokens joined: MC DONALD == MCDONALD
    joined: str  # every word joined, particles kept: DE LA ROSA == DELAROSA
    phon: str
    abbreviated: bool


def _given_token(raw: str) -> _Token:
    if raw in _GIVEN_ABBREVIATIONS:
        canon = _GIVEN_ABBREVIATIONS[raw]
        return _Token(raw, canon, _phonetic(canon), _ABBREVIATION)
    if raw in _GIVEN_NICKNAMES:
        canon = _GIVEN_NICKNAMES[raw]
        return _Token(raw, canon, _phonetic(canon), _NICKNAME)
    return _Token(raw, raw, _phonetic(raw), 0)


@lru_cache(maxsize=_CACHE_SIZE)
def _given_form(text: str) -> _Given:
    norm = normalise_name(text)
    tokens = tuple(_given_token(t) for t in _core_tokens(norm))
    initials = tuple(dict.fromkeys(t.canon[0] for t in tokens))
    return _Given(norm, tokens, tuple(t.raw for t in tokens), initials)


@lru_cache(maxsize=_CACHE_SIZE)
def _surname_form(text: str) -> _Surname:
    norm = normalise_name(text)
    raw_tokens = _core_tokens(norm)
    tokens = tuple(_SURNAME_ABBREVIATIONS.get(t, t) for t in raw_tokens)
    phons = tuple(_phonetic(t) for t in tokens)
    compact = "".join(tokens)
    return _Surname(
        norm=norm,
        tokens=tokens,
        phons=phons,
        skeletons=tuple(_skeleton(p) for p in phons),
        compact=compact,
        joined=norm.replace(" ", ""),
        phon=_phonetic(compact),
        abbreviated=tokens != raw_tokens,
    )


def given_name_tokens(text: str) -> tuple[str, ...]:
    """Canonical given-name tokens: MA. DE LOS ÁNGELES -> (MARIA, ANGELES)."""
    return tuple(t.canon for t in _given_form(text).tokens)


def surname_tokens(text: str) -> tuple[str, ...]:
    """Canonical surname tokens: DE LA CRUZ -> (CRUZ,), SMITH-JONES -> (SMITH, JONES)."""
    return _surname_form(text).tokens


# --------------------------------------------------------------------------------------------
# Identities


@dataclass(frozen=True, slots=True)
class Identity:
    """A person as screening sees them: names and date of birth (R11)."""

    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: date


@dataclass(frozen=True, slots=True)
class PreparedIdentity:
    """An identity with its normalised parts computed once; pass it to ``score`` many times."""

    identity: Identity
    given: _Given
    first: _Surname
    second: _Surname | None
    all_compact: str  # every surname token joined, for surnames typed into one field
    all_phon: str
    dob_digits: str  # YYYYMMDD


def _digits(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def prepare(identity: Identity | PreparedIdentity) -> PreparedIdentity:
    """Normalise an identity once, for many calls to ``score``.

    Cached on the identity's value: candidate rows arrive as fresh objects, but the same people
    (and, through the per-string caches below, the same names) keep coming back.
    """
    if isinstance(identity, PreparedIdentity):
        return identity
    return _prepare(identity)


def _second_surname(text: str | None) -> _Surname | None:
    """The second surname's form, or ``None`` when there is none (or only a placeholder)."""
    if text is None:
        return None
    second = _surname_form(text)
    return None if second.norm in _NO_SURNAME else second


@lru_cache(maxsize=_CACHE_SIZE // 2)
def _prepare(identity: Identity) -> PreparedIdentity:
    first = _surname_form(identity.first_surname)
    second = _second_surname(identity.second_surname)
    all_compact = first.compact + (second.compact if second else "")
    return PreparedIdentity(
        identity=identity,
        given=_given_form(identity.given_names),
        first=first,
        second=second,
        all_compact=all_compact,
        all_phon=_phonetic(all_compact),
        dob_digits=_digits(identity.date_of_birth),
    )


# --------------------------------------------------------------------------------------------
# Blocking


def blocking_keys(identity: Identity | PreparedIdentity) -> list[str]:
    """Short keys, one indexed row each; candidates are the rows sharing any key (R11).

    Each key pairs a name element with a date element so blocks stay small for common names,
    and the set is built so that one error of any kind leaves at least one key intact:

    - ``S:<surname>:<date>`` per surname word (at most 3): survives given-name variants,
      swapped, missing, hyphenated or married surnames and a day/month swap;
    - ``G:<initial>:<date>`` per given-name initial (at most 2): survives typos in both
      surnames and surname changes;
    - ``Y:<surnames>:<initial>:<year>``: survives a one-digit day or month typo;
    - ``M:<surnames>:<initial>:<month-day>``: survives a year typo.

    ``<surname>`` is the phonetic skeleton (first sound and consonants, at most 6 characters);
    month and day are written in swap-invariant order (smaller first), so a day/month swap
    never costs a key. At most 7 keys.
    """
    if isinstance(identity, PreparedIdentity):
        given, first, second = identity.given, identity.first, identity.second
        dob = identity.identity.date_of_birth
    else:
        # Only the per-name forms are needed (cached per string: surnames repeat a great deal);
        # a whole PreparedIdentity of a never-seen person costs several times more, and bulk
        # imports see nothing but never-seen people.
        given, first = _given_form(identity.given_names), _surname_form(identity.first_surname)
        second = _second_surname(identity.second_surname)
        dob = identity.date_of_birth
    low, high = sorted((dob.month, dob.day))
    month_day = f"{low:02d}{high:02d}"
    date_key = f"{dob.year:04d}{month_day}"

    skeletons = first.skeletons + (second.skeletons if second else ())
    words = [w for w in dict.fromkeys(skeletons) if w][:3]
    keys = [f"S:{w}:{date_key}" for w in words]
    initials = given.initials[:2]
    keys.extend(f"G:{i}:{date_key}" for i in initials)

    # The whole name, coarsely, for the two keys without a full date: surname skeletons (sorted,
    # so swapped surnames agree) and the first initial keep these blocks small.
    names = [first.skeletons[0] if first.skeletons else ""]
    if second is not None and second.skeletons:
        names = sorted((names[0], second.skeletons[0]))
    names.append(initials[0] if initials else "")
    name_key = ":".join(names)
    keys.append(f"Y:{name_key}:{dob.year:04d}")
    keys.append(f"M:{name_key}:{month_day}")
    return keys


# --------------------------------------------------------------------------------------------
# Similarities


def _string_sim(x: str, y: str, px: str, py: str) -> tuple[float, int]:
    """Edit similarity with domain adjustments; returns (similarity, flag).

    OSA distance counts a transposition as one edit. One edit is worth ONE_EDIT whatever the
    length (from four letters on), because a typo in JUAN is as likely as one in HERNANDEZ,
    unless both spellings are real, distinct names (CONFUSABLE); spellings that sound alike are
    worth PHONETIC.
    """
    if x == y:
        return 1.0, 0
    distance = OSA.distance(x, y)
    sim = 1.0 - distance / max(len(x), len(y))
    if distance == 1:
        if frozenset((x, y)) in _CONFUSABLE_PAIRS:
            return CONFUSABLE, _CONFUSABLE
        if sim < ONE_EDIT and min(len(x), len(y)) >= 4:
            sim = ONE_EDIT
    if sim < PHONETIC and px == py:
        return PHONETIC, _PHONETIC
    return sim, 0


def _gender_variant(x: str, y: str) -> bool:
    """GABRIEL/GABRIELA, JUAN/JUANA, MARIO/MARIA: one edit apart but two different people."""
    if len(x) > len(y):
        x, y = y, x
    if len(x) < 3:
        return False
    if y == x + "A":
        return True
    return len(x) == len(y) and x[:-1] == y[:-1] and {x[-1], y[-1]} == {"A", "O"}


def _given_token_sim(a: _Token, b: _Token) -> tuple[float, int]:
    if a.raw == b.raw:
        return 1.0, 0
    if a.canon == b.canon:
        if (a.flag | b.flag) & _NICKNAME:
            return NICKNAME, _NICKNAME
        return ABBREVIATION, _ABBREVIATION
    if len(a.canon) == 1 or len(b.canon) == 1:
        return (INITIAL, _INITIAL) if a.canon[0] == b.canon[0] else (0.0, 0)
    if _gender_variant(a.canon, b.canon):
        return GENDER_VARIANT, _GENDER
    return _string_sim(a.canon, b.canon, a.phon, b.phon)


@lru_cache(maxsize=_CACHE_SIZE)
def _given_sim(a: _Given, b: _Given) -> tuple[float, int]:
    """Align given-name tokens one to one, best pairs first, in any order.

    Unpaired tokens on the longer side are a mild penalty (people drop MARIA or a middle name);
    a paired token that disagrees (MARIA GUADALUPE / MARIA FERNANDA) pulls the mean down hard.
    Cached on the (interned) pair: a screening meets the same few given names again and again.
    """
    if a.key == b.key:
        return (1.0, 0) if a.norm == b.norm else (NEAR_EXACT, _PARTICLES_DIFFER)
    ta, tb = a.tokens, b.tokens
    if not ta or not tb:
        return 0.0, 0
    if len(ta) == 1 and len(tb) == 1:
        return _given_token_sim(ta[0], tb[0])

    cells: list[tuple[float, str, str, int, int, int]] = []
    for i, x in enumerate(ta):
        for j, y in enumerate(tb):
            sim, flag = _given_token_sim(x, y)
            # Ties broken on the token pair, not the positions, so score(a, b) == score(b, a).
            lo, hi = (x.raw, y.raw) if x.raw <= y.raw else (y.raw, x.raw)
            cells.append((-sim, lo, hi, i, j, flag))
    cells.sort()
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs: list[tuple[int, int]] = []
    total = 0.0
    flags = 0
    for neg_sim, _lo, _hi, i, j, flag in cells:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
            total -= neg_sim
            flags |= flag
    sim = total / len(pairs)

    extras = [t for k, t in enumerate(ta) if k not in used_a]
    extras += [t for k, t in enumerate(tb) if k not in used_b]
    for token in extras:
        flags |= _PARTIAL
        minor = token.canon in _LEAD_NAMES or len(token.canon) == 1
        sim *= EXTRA_MINOR if minor else EXTRA_MAJOR
    order = [j for _i, j in sorted(pairs)]
    if order != sorted(order):
        flags |= _REORDERED
        sim *= REORDERED
    return sim, flags


@lru_cache(maxsize=_CACHE_SIZE)
def _surname_sim(x: _Surname, y: _Surname) -> tuple[float, int]:
    """Similarity of two surname fields and the flag of the rule that produced it (cached)."""
    if x.norm == y.norm:
        return 1.0, 0
    if x.compact == y.compact or x.joined == y.joined:
        if x.abbreviated or y.abbreviated:
            return ABBREVIATION, _ABBREVIATION
        return NEAR_EXACT, _PARTICLES_DIFFER
    sim, flag = _string_sim(x.compact, y.compact, x.phon, y.phon)
    if len(x.tokens) > 1 or len(y.tokens) > 1:
        # Married (LOPEZ DE GARCIA) and hyphenated (SMITH-JONES) names: one word may be enough.
        for tx, px in zip(x.tokens, x.phons, strict=True):
            for ty, py in zip(y.tokens, y.phons, strict=True):
                part = _string_sim(tx, ty, px, py)[0] * COMPOUND_PART
                if part > sim:
                    sim, flag = part, _PARTIAL
    return sim, flag


def _credit(sim: float) -> float:
    """How much a part similarity counts: itself down to the knee, then falling to 0 at the floor.

    Linear weights alone would let one clearly different part (GARCIA vs GARZA, 0.67) be carried
    by three exact ones; the knee keeps typo-level differences cheap and real differences costly.
    """
    if sim >= CREDIT_KNEE:
        return sim
    return CREDIT_KNEE * max(0.0, sim - CREDIT_FLOOR) / (CREDIT_KNEE - CREDIT_FLOOR)


def dob_relation(a: date, b: date) -> DobRelation:
    """How two birth dates agree, strongest relation first."""
    return _dob_relation(a, b, _digits(a), _digits(b))


def _dob_relation(a: date, b: date, da: str, db: str) -> DobRelation:
    """``da`` and ``db`` are the dates as YYYYMMDD, precomputed by ``prepare``."""
    if a == b:
        return "exact"
    if a.year == b.year:
        if a.day == b.month and a.month == b.day:
            return "day_month_swapped"
    elif a.month != b.month and a.day != b.day:
        # Year, month and day all differ: more than one slip, unless the year's last digit and
        # the month's first were transposed. Settled here because it is the common case.
        if da[:3] == db[:3] and da[3] == db[4] and da[4] == db[3] and da[5:] == db[5:]:
            return "digits_transposed"
        return "mismatch"
    diffs = [k for k in range(8) if da[k] != db[k]]
    if len(diffs) == 1:
        return "one_digit_typo"
    if (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and da[diffs[0]] == db[diffs[1]]
        and da[diffs[1]] == db[diffs[0]]
    ):
        return "digits_transposed"
    if a.year == b.year:
        return "year_only"
    return "mismatch"


# --------------------------------------------------------------------------------------------
# Scoring

_STRAIGHT, _SWAPPED, _MERGED = 0, 1, 2
_PERFECT_SURNAMES: Final = W_FIRST + W_SECOND

# given, first, second similarity; second missing; alignment; given flags; surname flags;
# name score; birth-date relation; birth-date factor.
_Facts = tuple[float, float, float, bool, int, int, int, float, DobRelation, float]


@dataclass(frozen=True, slots=True)
class MatchResult:
    """A score in 0..100 and the features that produced it (R11: every match carries both).

    ``features`` is built on access: a screening scores hundreds of candidates but shows the
    features of the few above the review threshold.
    """

    score: float
    _facts: _Facts = field(repr=False, compare=False)

    @property
    def features(self) -> dict[str, float | str | bool]:
        given, first, second, missing, alignment, gflags, sflags, name, relation, factor = (
            self._facts
        )
        return {
            "given_names_similarity": round(100.0 * given, 2),
            "first_surname_similarity": round(100.0 * first, 2),
            "second_surname_similarity": round(100.0 * second, 2),
            "second_surname_missing": missing,
            "surnames_swapped": alignment == _SWAPPED,
            "surname_fields_merged": alignment == _MERGED,
            "compound_surname_partial": bool(sflags & _PARTIAL),
            "surname_abbreviation": bool(sflags & _ABBREVIATION),
            "confusable_name": bool((gflags | sflags) & _CONFUSABLE),
            "given_name_abbreviation": bool(gflags & _ABBREVIATION),
            "given_name_nickname": bool(gflags & _NICKNAME),
            "given_name_initial": bool(gflags & _INITIAL),
            "given_names_partial": bool(gflags & _PARTIAL),
            "given_names_reordered": bool(gflags & _REORDERED),
            "given_name_gender_variant": bool(gflags & _GENDER),
            "particles_or_spacing_differ": bool((gflags | sflags) & _PARTICLES_DIFFER),
            "phonetic_match": bool((gflags | sflags) & _PHONETIC),
            "name_score": round(100.0 * name, 2),
            "dob": relation,
            "dob_factor": factor,
        }


def score(
    query: Identity | PreparedIdentity, candidate: Identity | PreparedIdentity
) -> MatchResult:
    """Score how likely ``candidate`` is the person described by ``query`` (R11, R12a).

    ``100 * name_score * dob_factor``. ``name_score`` is ``W_GIVEN``, ``W_FIRST`` and
    ``W_SECOND`` times the credit of each part's similarity, under the best surname alignment
    (straight, swapped, or both surnames merged into one field); ``dob_factor`` comes from
    ``DOB_FACTORS``. Only an identity identical after normalisation scores 100, so scores do
    not saturate (R12a). Symmetric: ``score(a, b) == score(b, a)``.
    """
    a = query if isinstance(query, PreparedIdentity) else _prepare(query)
    b = candidate if isinstance(candidate, PreparedIdentity) else _prepare(candidate)

    given, gflags = _given_sim(a.given, b.given)
    first, sflags = _surname_sim(a.first, b.first)
    a2, b2 = a.second, b.second
    missing = False
    if a2 is not None and b2 is not None:
        second, flag = _surname_sim(a2, b2)
        sflags |= flag
        second_credit = second if second >= CREDIT_KNEE else _credit(second)
    else:
        # One side lacks it: no evidence either way, a fixed credit. Both lack it: a
        # one-surname (U.S.) name, which agrees fully.
        missing = (a2 is None) != (b2 is None)
        second = second_credit = MISSING_SECOND if missing else 1.0
    surnames = W_FIRST * (first if first >= CREDIT_KNEE else _credit(first))
    surnames += W_SECOND * second_credit
    alignment = _STRAIGHT

    if surnames < _PERFECT_SURNAMES:
        if a2 is not None and b2 is not None:
            f2, flag_f = _surname_sim(a.first, b2)
            s2, flag_s = _surname_sim(a2, b.first)
            # The weaker cross pair takes the larger weight: conservative, and symmetric.
            low, high = (f2, s2) if f2 <= s2 else (s2, f2)
            if high > CREDIT_FLOOR:  # otherwise both cross pairs earn nothing
                alt = (W_FIRST * _credit(low) + W_SECOND * _credit(high)) * SWAPPED
            else:
                alt = 0.0
            if alt > surnames:
                surnames, alignment = alt, _SWAPPED
                first, second, sflags = f2, s2, flag_f | flag_s
        if missing or len(a.first.tokens) != len(b.first.tokens):
            # GARCIA-LOPEZ typed in the first-surname field against GARCIA / LOPEZ.
            merged = _string_sim(a.all_compact, b.all_compact, a.all_phon, b.all_phon)[0]
            alt = _PERFECT_SURNAMES * _credit(merged) * MERGED
            if alt > surnames:
                surnames, alignment, missing = alt, _MERGED, False
                first = second = merged
                sflags = 0

    name = W_GIVEN * (given if given >= CREDIT_KNEE else _credit(given)) + surnames
    da, db = a.identity.date_of_birth, b.identity.date_of_birth
    relation = "exact" if da == db else _dob_relation(da, db, a.dob_digits, b.dob_digits)
    factor = DOB_FACTORS[relation]
    if name >= 1.0 and relation == "exact":
        value = 100.0  # identical after normalisation: every similarity is exactly 1.0
    else:
        # Rounding must not make a near match look identical (R12a).
        value = min(round(100.0 * name * factor, 2), 99.99)
    facts: _Facts = (
        given,
        first,
        second,
        missing,
        alignment,
        gflags,
        sflags,
        name,
        relation,
        factor,
    )
    return MatchResult(value, facts)


# --------------------------------------------------------------------------------------------
# Bands and verdicts


def band_for(
    value: float,
    high: float = DEFAULT_HIGH_THRESHOLD,
    review: float = DEFAULT_REVIEW_THRESHOLD,
) -> Band:
    """Classify a score: at or above ``high`` -> high, at or above ``review`` -> review."""
    if review > high:
        raise ValueError("the review threshold must not exceed the high threshold")
    if value >= high:
        return "high"
    if value >= review:
        return "review"
    return "none"


def verdict_for(
    value: float,
    high: float = DEFAULT_HIGH_THRESHOLD,
    review: float = DEFAULT_REVIEW_THRESHOLD,
    *,
    blocking_listing: bool = True,
) -> Verdict:
    """The verdict one candidate contributes to a screening (R11).

    A high-band candidate is ``listed`` only when its listing blocks (active or under appeal);
    the caller knows the listing status and passes it. A candidate whose listing no longer
    blocks (overturned) contributes ``clear``.
    """
    if not blocking_listing:
        return "clear"
    band = band_for(value, high, review)
    if band == "high":
        return "listed"
    return "review" if band == "review" else "clear"


_VERDICT_RANK: Final[dict[Verdict, int]] = {"clear": 0, "review": 1, "listed": 2}


def combine_verdicts(verdicts: Iterable[Verdict]) -> Verdict:
    """A screening's verdict is the gravest of its candidates' (no candidates -> clear)."""
    return max(verdicts, key=_VERDICT_RANK.__getitem__, default="clear")
