"""Cells a spreadsheet will not run (OWASP "CSV Injection"; #19).

A spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@`` (a tab or a
carriage return first can hide the same), and it reads the fullwidth and small forms of those
signs (``＝``, ``﹦``, ``＋``…) as the signs themselves, so the test runs on the NFKC form after
leading blanks. A spreadsheet that splits a line on its locale's list separator (``;`` in much
of Latin America and Europe, ``,``, ``|`` or a tab elsewhere) also runs a formula that follows
one inside a cell (``X;=1+1``). Such a cell gets a leading single quote, which spreadsheets
show as text; the writer quotes every field as well (``csv.QUOTE_ALL``), so the cell cannot be
split where the data holds a separator. The value itself is never altered beyond the quote.
"""

from __future__ import annotations

import re
import unicodedata

# A formula sign at the start of the cell or of any part a separator can split off, after
# blanks; or a tab or carriage return at the very start.
_FORMULA = re.compile(r"(?:^|[;,|\t\r\n])\s*[=+\-@]|^[\t\r]")


def spreadsheet_safe(value: object) -> str:
    """``value`` as CSV cell text that a spreadsheet shows and does not evaluate."""
    text = "" if value is None else str(value)
    if _FORMULA.search(unicodedata.normalize("NFKC", text)):
        return "'" + text
    return text
