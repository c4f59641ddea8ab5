"""Generate tests/data/name_pairs.csv, the labelled pairs the matcher is measured on (R11).

Deterministic (fixed seed, no third-party generator whose output could change between versions):
``python tests/data/make_name_pairs.py`` rewrites the same file. The CSV is what is committed and
reviewed; this script only documents how each kind of pair was built.

Positives are one person written two ways (accents, particles, abbreviations, swapped or missing
second surname, typos, birth-date slips…). Negatives are hard: different people who share a
common name, siblings and twins, namesakes with another second surname, fathers and sons.
"""

from __future__ import annotations

import csv
import random
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("name_pairs.csv")
rng = random.Random(20_240_611)


def words(text: str, sep: str = " ") -> list[str]:
    return text.split(sep)


MX_MALE = words(
    "JOSÉ LUIS|JUAN CARLOS|JOSÉ ANTONIO|MIGUEL ÁNGEL|JESÚS|FRANCISCO JAVIER|ALEJANDRO|JUAN|JOSÉ|"
    "LUIS|CARLOS|JORGE|RICARDO|EDUARDO|FERNANDO|ROBERTO|DANIEL|MARIO|SERGIO|ARTURO|RAÚL|ÓSCAR|"
    "VÍCTOR MANUEL|JUAN MANUEL|RAFAEL|PEDRO|MARTÍN|HÉCTOR|GUILLERMO|ALBERTO|ENRIQUE|IGNACIO|"
    "ANTONIO|GABRIEL|RAMÓN|JAVIER|SALVADOR|ARMANDO|ERNESTO|GERARDO|CÉSAR|JULIO CÉSAR|EFRAÍN|"
    "RODRIGO|IVÁN|FRANCISCO",
    "|",
)
MX_FEMALE = words(
    "MARÍA GUADALUPE|MARÍA DE LOS ÁNGELES|MARÍA DEL CARMEN|MARÍA FERNANDA|MARÍA JOSÉ|"
    "MARÍA ELENA|MARÍA ISABEL|MARÍA TERESA|GUADALUPE|ANA MARÍA|JUANA|VERÓNICA|PATRICIA|"
    "ROSA MARÍA|LETICIA|ALEJANDRA|GABRIELA|ADRIANA|CLAUDIA|LAURA|SILVIA|ELIZABETH|MARTHA|"
    "YOLANDA|LUCÍA|DANIELA|MÓNICA|SANDRA|NORMA|ARACELI|BEATRIZ|CONCEPCIÓN|LORENA|XÓCHITL|ITZEL",
    "|",
)
# Weighted roughly by frequency in Mexico, so common names dominate as they do in the registry.
MX_SURNAMES = (
    ["HERNÁNDEZ"] * 10
    + ["GARCÍA"] * 8
    + ["MARTÍNEZ", "LÓPEZ"] * 7
    + ["GONZÁLEZ"] * 6
    + ["RODRÍGUEZ", "PÉREZ", "SÁNCHEZ"] * 5
    + ["RAMÍREZ", "CRUZ"] * 4
    + ["FLORES", "GÓMEZ", "MORALES", "VÁZQUEZ", "JIMÉNEZ", "REYES", "DÍAZ", "TORRES"] * 3
    + words("GUTIÉRREZ RUIZ MENDOZA AGUILAR ORTIZ CASTILLO MORENO ROMERO ÁLVAREZ CHÁVEZ RIVERA") * 2
    + words(
        "RAMOS DOMÍNGUEZ MÉNDEZ MEDINA CASTRO VARGAS GUZMÁN HERRERA SALAZAR JUÁREZ NÚÑEZ IBARRA "
        "MUÑOZ PEÑA CERVANTES CEBALLOS VILLALOBOS ZAVALA ESQUIVEL BECERRA QUINTERO SOLÍS OROZCO "
        "ZÚÑIGA BAUTISTA VELÁZQUEZ"
    )
)
MX_PARTICLE_SURNAMES = ["DE LA CRUZ", "DEL ÁNGEL", "DE LEÓN", "DE LA ROSA", "DE LOS SANTOS"]
US_MALE = words(
    "JOHN MICHAEL JAMES ROBERT WILLIAM DAVID RICHARD JOSEPH THOMAS CHRISTOPHER DANIEL MATTHEW "
    "ANTHONY MARK STEVEN PAUL ANDREW KEVIN BRIAN GEORGE TIMOTHY RYAN JASON ERIC"
)
US_FEMALE = words(
    "MARY PATRICIA JENNIFER LINDA ELIZABETH BARBARA SUSAN JESSICA SARAH KAREN NANCY LISA "
    "MARGARET ASHLEY EMILY MICHELLE AMANDA MELISSA STEPHANIE REBECCA LAURA RACHEL"
)
US_MIDDLE = words(
    "ANN MARIE LYNN JEAN LEE ALLEN EDWARD JAMES MICHAEL RAY WAYNE JOSEPH SCOTT DEAN ROSE"
)
US_SURNAMES = (
    ["SMITH"] * 6
    + ["JOHNSON"] * 5
    + ["WILLIAMS", "BROWN", "JONES"] * 4
    + ["MILLER", "DAVIS"] * 3
    + words(
        "WILSON ANDERSON TAYLOR THOMAS MOORE JACKSON MARTIN LEE THOMPSON WHITE HARRIS CLARK LEWIS "
        "ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT HILL GREEN ADAMS BAKER NELSON CARTER "
        "MITCHELL O'BRIEN MCDONALD O'CONNOR MCCARTHY SULLIVAN MURPHY"
    )
)
PHONETIC_VARIANTS = [
    ("GONZÁLEZ", "GONZALES"),
    ("VÁZQUEZ", "VASQUEZ"),
    ("VELÁZQUEZ", "VELASQUEZ"),
    ("JIMÉNEZ", "GIMENEZ"),
    ("CEBALLOS", "ZEBALLOS"),
    ("CEBALLOS", "CEVALLOS"),
    ("VILLALOBOS", "VILLALOVOS"),
    ("HERNÁNDEZ", "ERNANDEZ"),
    ("BECERRA", "VECERRA"),
    ("ZAVALA", "ZABALA"),
    ("ESQUIVEL", "ESQUIBEL"),
    ("CERVANTES", "SERVANTES"),
    ("JUÁREZ", "JUARES"),
]
ROW = tuple[str, str, str, str | None, date, str, str, str | None, date]


def plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def title(text: str) -> str:
    small = {"DE", "DEL", "LA", "LAS", "LOS", "Y"}
    return " ".join(w.lower() if w in small else w.capitalize() for w in text.split(" "))


def render(text: str | None) -> str | None:
    """How another office might have typed the same name: with or without accents, any case."""
    if text is None:
        return None
    return rng.choice([text, plain(text), title(text), title(plain(text))])


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def different(a: str, b: str) -> bool:
    """Clearly different names: no shared word and more than two edits apart."""
    wa, wb = set(words(plain(a))), set(words(plain(b)))
    return not (wa & wb) and levenshtein(plain(a), plain(b)) > 2


def pick_other(pool: list[str], name: str) -> str:
    while True:
        other = rng.choice(pool)
        if different(other, name):
            return other


def dob() -> date:
    return date(1960, 1, 1) + timedelta(days=rng.randrange(44 * 365))


def digits(d: date) -> str:
    return f"{d:%Y%m%d}"


def far_date(d: date, same_year: bool) -> date:
    """A birth date that is not a slip of ``d``: no swap, no single digit, no transposition."""
    while True:
        if same_year:
            other = date(d.year, rng.randint(1, 12), rng.randint(1, 28))
        else:
            other = d.replace(
                year=d.year + rng.choice([-1, 1]) * rng.randint(2, 9), day=min(d.day, 28)
            )
            other += timedelta(days=rng.randint(-200, 200))
        diff = [k for k in range(8) if digits(d)[k] != digits(other)[k]]
        swapped = (other.month, other.day) == (d.day, d.month)
        transposed = len(diff) == 2 and diff[1] == diff[0] + 1
        if (
            len(diff) >= 2
            and not swapped
            and not transposed
            and (other.year == d.year) == same_year
        ):
            return other


def swappable_dob() -> date:
    while True:
        d = dob()
        if d.day <= 12 and d.day != d.month:
            return d


def one_digit_slip(d: date) -> date:
    while True:
        s = list(digits(d))
        k = rng.choice([2, 3, 5, 6, 7])  # the decade, year, month and day digits people slip on
        s[k] = str(rng.randrange(10))
        try:
            other = date(int("".join(s[:4])), int("".join(s[4:6])), int("".join(s[6:])))
        except ValueError:
            continue
        if other != d and (other.month, other.day) != (d.day, d.month):
            return other


NEIGHBOURS = dict(zip("AEIOUNRSLTCDMPBGZ", "SWOPYMTDKRXSNOVHX", strict=True))


def typo(word: str) -> str:
    """One keyboard slip in a word of at least 4 letters; never a Spanish gender ending."""
    w = plain(word)
    while True:
        k = rng.randrange(1, len(w) - 1)
        op = rng.choice(["sub", "del", "dup", "swap"])
        if op == "sub" and w[k] in NEIGHBOURS:
            out = w[:k] + NEIGHBOURS[w[k]] + w[k + 1 :]
        elif op == "del":
            out = w[:k] + w[k + 1 :]
        elif op == "dup":
            out = w[:k] + w[k] + w[k:]
        elif op == "swap" and w[k] != w[k + 1]:
            out = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        else:
            continue
        if out != w and " " not in (out[0], out[-1]) and "  " not in out:
            return out


def typo_in(name: str) -> str:
    parts = name.split(" ")
    long_words = [i for i, w in enumerate(parts) if len(w) >= 4]
    i = rng.choice(long_words)
    parts[i] = typo(parts[i])
    return " ".join(parts)


def mx_person(female: bool | None = None) -> tuple[str, str, str, date]:
    if female is None:
        female = rng.random() < 0.5
    given = rng.choice(MX_FEMALE if female else MX_MALE)
    first = rng.choice(MX_SURNAMES)
    second = rng.choice([s for s in MX_SURNAMES if s != first])
    return given, first, second, dob()


def us_person(female: bool | None = None, middle: bool = False) -> tuple[str, str, date]:
    if female is None:
        female = rng.random() < 0.5
    given = rng.choice(US_FEMALE if female else US_MALE)
    if middle:
        given += " " + rng.choice([m for m in US_MIDDLE if m != given])
    return given, rng.choice(US_SURNAMES), dob()


rows: list[tuple[str, str, ROW]] = []


def add(label: str, kind: str, count: int, make: Callable[[], ROW]) -> None:
    for _ in range(count):
        rows.append((label, kind, make()))


# ---------------------------------------------------------------------------- positives


def accents() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, plain(g), plain(f), plain(s), d


def case() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, g.lower(), title(f), s.lower(), d


def particles() -> ROW:
    g, f, s, d = mx_person()
    if rng.random() < 0.5:
        g = rng.choice(
            ["MARÍA DE LOS ÁNGELES", "MARÍA DEL CARMEN", "MARÍA DE JESÚS", "JOSÉ DE JESÚS"]
        )
        other = g.replace(" DE LOS ", " ").replace(" DEL ", " ").replace(" DE ", " ")
        return g, f, s, d, render(other) or "", f, render(s), d
    f = rng.choice(MX_PARTICLE_SURNAMES)
    other = rng.choice([f.split(" ")[-1], f.replace(" ", "")])
    return g, f, s, d, render(g) or "", other, render(s), d


COMPOUND_SHORT = {
    "MARÍA GUADALUPE": "GUADALUPE",
    "MARÍA DEL CARMEN": "CARMEN",
    "MARÍA ELENA": "ELENA",
    "MARÍA TERESA": "TERESA",
    "JOSÉ LUIS": "LUIS",
    "JOSÉ ANTONIO": "ANTONIO",
    "JUAN CARLOS": "CARLOS",
    "JUAN MANUEL": "MANUEL",
    "ANA MARÍA": "ANA",
    "MIGUEL ÁNGEL": "MIGUEL",
    "FRANCISCO JAVIER": "FRANCISCO",
    "VÍCTOR MANUEL": "VÍCTOR",
}


def compound_given() -> ROW:
    _, f, s, d = mx_person()
    g = rng.choice(sorted(COMPOUND_SHORT))
    return g, f, s, d, render(COMPOUND_SHORT[g]) or "", render(f) or "", render(s), d


ABBREVIATED = [
    ("MARÍA GUADALUPE", "MA. GUADALUPE"),
    ("MARÍA GUADALUPE", "MA. GPE."),
    ("MARÍA DEL CARMEN", "MA DEL CARMEN"),
    ("MARÍA ELENA", "Mª ELENA"),
    ("MARÍA DE LOS ÁNGELES", "MA. DE LOS ÁNGELES"),
    ("MARÍA TERESA", "Ma. Teresa"),
    ("JOSÉ LUIS", "J. LUIS"),
    ("JOSÉ ANTONIO", "J. ANTONIO"),
    ("JUAN CARLOS", "J. CARLOS"),
    ("GUADALUPE", "GPE."),
    ("FRANCISCO JAVIER", "FCO. JAVIER"),
    ("FRANCISCO", "FCO."),
    ("GUILLERMO", "GMO."),
    ("ANA MARÍA", "ANA MA."),
]


def abbreviation() -> ROW:
    _, f, s, d = mx_person()
    g, short = rng.choice(ABBREVIATED)
    return g, f, s, d, short, render(f) or "", render(s), d


def surname_abbreviation() -> ROW:
    g, _, _, d = mx_person()
    pairs = [
        ("HERNÁNDEZ", "HDZ."),
        ("GONZÁLEZ", "GZZ."),
        ("MARTÍNEZ", "MTZ."),
        ("RODRÍGUEZ", "RDZ."),
    ]
    (f, fa), (s, sa) = rng.sample(pairs, 2)
    if rng.random() < 0.5:
        return g, f, s, d, render(g) or "", fa, s, d
    return g, f, s, d, render(g) or "", f, sa, d


NICKNAMES = [
    ("FRANCISCO", "PACO"),
    ("FRANCISCO", "PANCHO"),
    ("JOSÉ", "PEPE"),
    ("GUADALUPE", "LUPE"),
    ("JESÚS", "CHUY"),
    ("IGNACIO", "NACHO"),
    ("GUILLERMO", "MEMO"),
]


def nickname() -> ROW:
    if rng.random() < 0.6:
        _, f, s, d = mx_person()
        g, nick = rng.choice(NICKNAMES)
        return g, f, s, d, nick, render(f) or "", render(s), d
    _, f, d = us_person()
    g, nick = rng.choice(
        [("WILLIAM", "BILL"), ("ROBERT", "BOB"), ("JAMES", "JIM"), ("MICHAEL", "MIKE")]
    )
    return g, f, None, d, nick, f, None, d


def swapped() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, render(g) or "", render(s) or "", render(f), d


def missing_second() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, render(g) or "", render(f) or "", rng.choice([None, None, "X"]), d


def typo_pair() -> ROW:
    if rng.random() < 0.25:
        g, f, d = us_person()
        while len(f) < 4:
            f = rng.choice(US_SURNAMES)
        if rng.random() < 0.5:
            return g, f, None, d, typo_in(g), f, None, d
        return g, f, None, d, g, typo_in(plain(f).replace("'", "")), None, d
    g, f, s, d = mx_person()
    part = rng.choice(["given", "first", "second"])
    if part == "given" and any(len(w) >= 4 for w in g.split()):
        return g, f, s, d, typo_in(plain(g)), f, s, d
    if part == "first":
        return g, f, s, d, g, typo_in(plain(f)), s, d
    return g, f, s, d, g, f, typo_in(plain(s)), d


def phonetic() -> ROW:
    g, f, s, d = mx_person()
    word, spelled = rng.choice(PHONETIC_VARIANTS)
    if rng.random() < 0.5:
        return g, word, s, d, render(g) or "", spelled, render(s), d
    return g, f, word, d, render(g) or "", render(f) or "", spelled, d


def dob_swap() -> ROW:
    g, f, s, _ = mx_person()
    d = swappable_dob()
    if rng.random() < 0.3:
        g, f, _ = us_person()
        s = None
    return (
        g,
        f,
        s,
        d,
        render(g) or "",
        render(f) or "",
        render(s),
        d.replace(day=d.month, month=d.day),
    )


def dob_one_digit() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, render(g) or "", render(f) or "", render(s), one_digit_slip(d)


def hyphenated() -> ROW:
    if rng.random() < 0.6:
        g, f, s, d = mx_person()
        joined = rng.choice([f"{f}-{s}", f"{f} {s}"])
        return g, f, s, d, render(g) or "", render(joined) or "", None, d
    g, f, d = us_person(female=True)
    other = rng.choice([x for x in US_SURNAMES if x != f])
    return g, f"{f}-{other}", None, d, g, rng.choice([f"{f} {other}", f"{f}{other}"]), None, d


def married() -> ROW:
    if rng.random() < 0.6:
        g, f, s, d = mx_person(female=True)
        husband = rng.choice([x for x in MX_SURNAMES if x not in (f, s)])
        if rng.random() < 0.5:
            return g, f, s, d, render(g) or "", f"{f} DE {husband}", None, d
        return g, f, s, d, render(g) or "", f, f"{s} DE {husband}", d
    g, f, d = us_person(female=True)
    husband = rng.choice([x for x in US_SURNAMES if x != f])
    double = f"{f}-{husband}"
    return (
        (g, f, None, d, g, double, None, d)
        if rng.random() < 0.5
        else (g, husband, None, d, g, double, None, d)
    )


def us_middle() -> ROW:
    g, f, d = us_person(middle=True)
    first, middle = g.split(" ")
    short = rng.choice(
        [f"{first} {middle[0]}.", f"{first} {middle[0]}", first, f"{first[0]}. {middle}"]
    )
    return g, f, None, d, short, f, None, d


def us_suffix() -> ROW:
    g, f, d = us_person(female=False)
    suffix = rng.choice(["JR", "JR.", "SR.", "III", "II"])
    if rng.random() < 0.5:
        return g, f, None, d, g, f"{f} {suffix}", None, d
    return g, f, None, d, g, f"{title(f)}, {suffix}", None, d


def spacing() -> ROW:
    g, _, d = us_person()
    f, other = rng.choice(
        [
            ("O'BRIEN", "OBRIEN"),
            ("O'CONNOR", "O CONNOR"),
            ("MCDONALD", "MC DONALD"),
            ("MCCARTHY", "McCarthy"),
            ("VAN DYKE", "VANDYKE"),
            ("DE LA ROSA", "DELAROSA"),
        ]
    )
    return g, f, None, d, g, other, None, d


def two_typos() -> ROW:
    g, f, s, d = mx_person()
    if not any(len(w) >= 4 for w in g.split(" ")):
        g = "GUADALUPE"
    parts = rng.sample(["given", "first", "second"], 2)
    bg = typo_in(plain(g)) if "given" in parts else g
    bf = typo_in(plain(f)) if "first" in parts else f
    bs = typo_in(plain(s)) if "second" in parts and len(s) >= 4 else s
    return g, f, s, d, bg, bf, bs, d


def typo_short_name() -> ROW:
    _, f, s, d = mx_person()
    g, slip = rng.choice(
        [("ANA", "ANNA"), ("ANA", "AN"), ("LUZ", "LUS"), ("EVA", "EBA"), ("IRMA", "IMRA")]
    )
    return g, f, s, d, slip, f, s, d


def dob_transposed() -> ROW:
    g, f, s, d = mx_person()
    while True:
        text = list(digits(d))
        k = rng.choice([2, 6])  # 1987 -> 1978, day 12 -> 21
        text[k], text[k + 1] = text[k + 1], text[k]
        try:
            other = date(int("".join(text[:4])), int("".join(text[4:6])), int("".join(text[6:])))
        except ValueError:
            d = dob()
            continue
        if other != d:
            return g, f, s, d, render(g) or "", render(f) or "", render(s), other
        d = dob()


def dob_placeholder() -> ROW:
    """The other record only knew the year and stored 1 January (or 1 July)."""
    g, f, s, d = mx_person()
    while d.month in (1, 7) or d.day == 1:
        d = dob()
    return (
        g,
        f,
        s,
        d,
        render(g) or "",
        render(f) or "",
        render(s),
        date(d.year, rng.choice([1, 7]), 1),
    )


def combined() -> ROW:
    g, f, s, d = mx_person()
    choice = rng.randrange(6)
    if choice == 0:  # accents lost and surnames swapped
        return g, f, s, d, plain(g), plain(s), plain(f), d
    if choice == 1:  # abbreviated given name, no second surname
        g, short = rng.choice(ABBREVIATED)
        return g, f, s, d, short, f, None, d
    if choice == 2:  # typo in the given names and day/month swapped
        d = swappable_dob()
        return g, f, s, d, typo_in(plain(g)), f, s, d.replace(day=d.month, month=d.day)
    if choice == 3:  # compound given name shortened, no second surname
        g = rng.choice(sorted(COMPOUND_SHORT))
        return g, f, s, d, COMPOUND_SHORT[g], plain(f), None, d
    if choice == 4:  # typo in one surname, the other without accents
        return g, f, s, d, g, typo_in(plain(f)), plain(s), d
    g = rng.choice(["MARÍA DE LOS ÁNGELES", "MARÍA DEL CARMEN"])  # particles and case
    return g, f, s, d, title(plain(g)).replace("De Los ", "").replace("Del ", ""), f.lower(), s, d


# ---------------------------------------------------------------------------- negatives

COMMON_MX = [
    ("JUAN", "HERNÁNDEZ", "GARCÍA"),
    ("MARÍA GUADALUPE", "LÓPEZ", "HERNÁNDEZ"),
    ("JOSÉ LUIS", "MARTÍNEZ", "GONZÁLEZ"),
    ("MARÍA", "GARCÍA", "LÓPEZ"),
    ("JUAN CARLOS", "RODRÍGUEZ", "PÉREZ"),
    ("JOSÉ", "SÁNCHEZ", "RAMÍREZ"),
    ("GUADALUPE", "HERNÁNDEZ", "HERNÁNDEZ"),
    ("FRANCISCO JAVIER", "GONZÁLEZ", "MARTÍNEZ"),
    ("MIGUEL ÁNGEL", "PÉREZ", "CRUZ"),
    ("MARÍA DEL CARMEN", "FLORES", "GÓMEZ"),
]


def common_name_different_dob() -> ROW:
    if rng.random() < 0.2:
        g, f, d = us_person()
        return g, f, None, d, g, f, None, far_date(d, same_year=rng.random() < 0.4)
    g, f, s = rng.choice(COMMON_MX)
    d = dob()
    return (
        g,
        f,
        s,
        d,
        render(g) or "",
        render(f) or "",
        render(s),
        far_date(d, same_year=rng.random() < 0.4),
    )


def siblings() -> ROW:
    g, f, s, d = mx_person()
    other = pick_other(MX_FEMALE + MX_MALE, g)
    return g, f, s, d, other, f, s, d + timedelta(days=rng.randint(400, 4500))


def twins() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, pick_other(MX_FEMALE + MX_MALE, g), f, s, d


def twins_gender_variant() -> ROW:
    _, f, s, d = mx_person()
    g, other = rng.choice(
        [
            ("GABRIEL", "GABRIELA"),
            ("DANIEL", "DANIELA"),
            ("JUAN", "JUANA"),
            ("MARIO", "MARÍA"),
            ("ANTONIO", "ANTONIA"),
            ("FRANCISCO", "FRANCISCA"),
            ("LUIS", "LUISA"),
            ("MANUEL", "MANUELA"),
        ]
    )
    return g, f, s, d, other, f, s, d


def compound_conflict() -> ROW:
    _, f, s, d = mx_person()
    lead = rng.choice(["MARÍA", "JOSÉ", "JUAN"])
    pool = {
        "MARÍA": ["GUADALUPE", "FERNANDA", "ELENA", "ISABEL", "TERESA", "JOSÉ", "EUGENIA"],
        "JOSÉ": ["LUIS", "ANTONIO", "MANUEL", "ALFREDO", "RAMÓN"],
        "JUAN": ["CARLOS", "MANUEL", "PABLO", "ANTONIO", "JOSÉ"],
    }[lead]
    x, y = rng.sample(pool, 2)
    other_dob = d if rng.random() < 0.5 else d + timedelta(days=rng.randint(400, 4000))
    return f"{lead} {x}", f, s, d, f"{lead} {y}", f, s, other_dob


def far_surname(name: str) -> str:
    while True:
        other = rng.choice(MX_SURNAMES)
        if levenshtein(plain(other), plain(name)) > 2:
            return other


def different_second_surname() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, render(g) or "", render(f) or "", far_surname(s), d


def different_first_surname() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, render(g) or "", far_surname(f), render(s), d


def us_common_surname() -> ROW:
    f = rng.choice(["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "MILLER", "DAVIS"])
    g, _, d = us_person()
    if rng.random() < 0.5:
        return g, f, None, d, pick_other(US_MALE + US_FEMALE, g), f, None, d
    return g, f, None, d, g, f, None, far_date(d, same_year=False)


def us_father_son() -> ROW:
    g, f, d = us_person(female=False)
    son = d.replace(year=d.year + rng.randint(20, 35), day=min(d.day, 28))
    son += timedelta(days=rng.randint(-150, 150))
    return g, f"{f} SR", None, d, g, f"{f} JR", None, son


def us_middle_conflict() -> ROW:
    g, f, d = us_person(female=rng.random() < 0.5)
    m1, m2 = rng.sample([m for m in US_MIDDLE if m != g], 2)
    return f"{g} {m1}", f, None, d, f"{g} {m2}", f, None, d


def same_dob_unrelated() -> ROW:
    g, f, s, d = mx_person()
    g2, f2, s2, _ = mx_person()
    while not (different(g, g2) and different(f, f2) and different(s, s2)):
        g2, f2, s2, _ = mx_person()
    return g, f, s, d, g2, f2, s2, d


def namesake_missing_second() -> ROW:
    g, f, s = rng.choice(COMMON_MX)
    d = dob()
    return g, f, s, d, render(g) or "", render(f) or "", None, far_date(d, same_year=False)


def swapped_different_dob() -> ROW:
    g, f, s, d = mx_person()
    return g, f, s, d, render(g) or "", render(s) or "", render(f), far_date(d, same_year=False)


CONFUSABLE_GIVEN = [
    ("MARÍA", "MARTA"),
    ("MARIO", "DARIO"),
    ("RAÚL", "SAÚL"),
    ("SONIA", "SOFÍA"),
    ("ELSA", "ELISA"),
    ("JAIME", "JAIRO"),
]
CONFUSABLE_SURNAMES = [
    ("HERNÁNDEZ", "FERNÁNDEZ"),
    ("JUÁREZ", "SUÁREZ"),
    ("DÍAZ", "DIEZ"),
    ("VEGA", "VERA"),
    ("ROSAS", "ROJAS"),
    ("PEÑA", "PIÑA"),
]
SIMILAR_SURNAMES = [
    ("GARCÍA", "GARZA"),
    ("MORALES", "ROSALES"),
    ("MÉNDEZ", "MENDOZA"),
    ("MUÑOZ", "NÚÑEZ"),
    ("RIVERA", "RIVAS"),
    ("RAMOS", "RAMÍREZ"),
    ("ORTIZ", "ORTEGA"),
    ("CASTRO", "CASTILLO"),
    ("GÓMEZ", "GÓMORA"),
    ("SALAS", "SALAZAR"),
]


def similar_name_same_dob() -> ROW:
    """Twins, or namesakes born the same day, whose names are one edit apart but both real."""
    g, f, s, d = mx_person()
    if rng.random() < 0.5:
        g, other = rng.choice(CONFUSABLE_GIVEN)
        return g, f, s, d, other, f, s, d
    f, other = rng.choice(CONFUSABLE_SURNAMES)
    return g, f, s, d, render(g) or "", other, s, d


def similar_second_surname() -> ROW:
    g, f, _, d = mx_person()
    s, other = rng.choice(SIMILAR_SURNAMES)
    return g, f, s, d, render(g) or "", render(f) or "", other, d


def build() -> None:
    """Every kind and how many pairs of it; the order fixes the random stream."""
    add("match", "accents", 14, accents)
    add("match", "case", 6, case)
    add("match", "particles", 12, particles)
    add("match", "compound_given_name", 14, compound_given)
    add("match", "abbreviation", 14, abbreviation)
    add("match", "surname_abbreviation", 5, surname_abbreviation)
    add("match", "nickname", 5, nickname)
    add("match", "swapped_surnames", 14, swapped)
    add("match", "missing_second_surname", 14, missing_second)
    add("match", "typo", 24, typo_pair)
    add("match", "phonetic_spelling", 10, phonetic)
    add("match", "dob_day_month_swap", 12, dob_swap)
    add("match", "dob_one_digit_typo", 10, dob_one_digit)
    add("match", "hyphenated", 10, hyphenated)
    add("match", "married_name", 10, married)
    add("match", "us_middle_initial", 12, us_middle)
    add("match", "us_suffix", 6, us_suffix)
    add("match", "apostrophe_spacing", 6, spacing)
    add("match", "combined", 12, combined)
    add("match", "two_typos", 8, two_typos)
    add("match", "typo_short_name", 4, typo_short_name)
    add("match", "dob_digits_transposed", 5, dob_transposed)
    add("match", "dob_placeholder", 5, dob_placeholder)
    add("nonmatch", "common_name_different_dob", 40, common_name_different_dob)
    add("nonmatch", "siblings", 25, siblings)
    add("nonmatch", "twins", 12, twins)
    add("nonmatch", "twins_gender_variant", 8, twins_gender_variant)
    add("nonmatch", "compound_given_conflict", 10, compound_conflict)
    add("nonmatch", "different_second_surname", 15, different_second_surname)
    add("nonmatch", "different_first_surname", 10, different_first_surname)
    add("nonmatch", "us_common_surname", 20, us_common_surname)
    add("nonmatch", "us_father_son", 8, us_father_son)
    add("nonmatch", "us_middle_name_conflict", 8, us_middle_conflict)
    add("nonmatch", "same_dob_unrelated", 12, same_dob_unrelated)
    add("nonmatch", "namesake_missing_second_different_dob", 8, namesake_missing_second)
    add("nonmatch", "swapped_surnames_different_dob", 6, swapped_different_dob)
    add("nonmatch", "similar_name_same_dob", 16, similar_name_same_dob)
    add("nonmatch", "similar_second_surname", 10, similar_second_surname)


def main() -> None:
    build()
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(
            ["label", "kind"]
            + [
                f"{p}_{c}"
                for p in "ab"
                for c in ("given_names", "first_surname", "second_surname", "dob")
            ]
        )
        for label, kind, (ag, af, as_, ad, bg, bf, bs, bd) in rows:
            out.writerow([label, kind, ag, af, as_ or "", ad, bg, bf, bs or "", bd])
    print(f"wrote {len(rows)} pairs to {OUT}")


if __name__ == "__main__":
    main()
