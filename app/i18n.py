"""Problem titles and details in English or Spanish from one gettext catalogue.

Messages are written in English in the code (the msgid); ``app/locale/es/LC_MESSAGES/messages.po``
holds the Spanish. The catalogue is read with Babel at start-up, so there is no compiled ``.mo``
file to forget to rebuild.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("en", "es")


@cache
def _catalogue(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def negotiate(accept_language: str | None) -> str:
    """Pick ``es`` or ``en`` from an Accept-Language header, honouring q-values."""
    if not accept_language:
        return "en"
    best, best_q = "en", -1.0
    for part in accept_language.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED and q > best_q:
            best, best_q = primary, q
    return best


def translate(message: str, lang: str, **params: Any) -> str:
    template = _catalogue(lang).get(message, message) if lang != "en" else message
    if not params:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return message.format(**params)
