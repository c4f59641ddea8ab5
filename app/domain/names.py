"""Name normalisation shared by screening, watches and the request schemas (R11, R12a, R12b).

Pure: no database, no HTTP. ``app.services.screening.matching`` scores names after this
normalisation;
the schemas use it to refuse names that normalise to nothing.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["normalise_name"]

_SPECIAL_LETTERS: Final = str.maketrans(
    {
        "ß": "SS",
        "ø": "O",
        "Ø": "O",
        "æ": "AE",
        "Æ": "AE",
        "œ": "OE",
        "Œ": "OE",
        "ł": "L",
        "Ł": "L",
        "đ": "D",
        "Đ": "D",
        "þ": "TH",
        "Þ": "TH",
        "ı": "I",
    }
)
# Removed, not spaced: O'BRIEN is written OBRIEN at least as often as O BRIEN.
_APOSTROPHES: Final = re.compile("['’‘`´ʼ]")
_NON_ALNUM: Final = re.compile("[^A-Z0-9]+")


def normalise_name(text: str) -> str:
    """Uppercase ASCII letters and digits separated by single spaces.

    Accents go (NFKD, then combining marks dropped: JOSÉ -> JOSE, NÚÑEZ -> NUNEZ, Mª -> MA);
    apostrophes go; any other punctuation, hyphen or whitespace becomes one space. Letters with
    no decomposition (ß, Ø, Ł…) are transliterated first. Anything else outside A-Z0-9 becomes a
    space, which makes the function idempotent.
    """
    text = _APOSTROPHES.sub("", text.translate(_SPECIAL_LETTERS))
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", stripped.upper()).strip()
