"""The one key names are compared by: customers, items and price levels, wherever they are matched.

Unicode's canonical caseless matching (The Unicode Standard, §3.13, D145): NFD(casefold(NFD(name))),
after the white space around the name is dropped. So "CAFÉ GRÖSSE" is "Café Größe" (ß and the capital ẞ
fold to ss), "İzmir" is "i̇zmir" (the Turkish dotted capital I folds to i + U+0307; a plain I folds to i,
so "Izmir" is another name), and an é typed as one code point is an é typed as e + U+0301. Letters are
never dropped: "Café" is not "Cafe", and white space inside a name counts.

Pure Python on purpose: SQLite's lower() folds ASCII only, PostgreSQL 15's lower() maps letter by letter
(ß stays ß) and it has no casefold(), and neither normalizes. So keys are computed here, stored beside the names we write (`name_key` columns), and computed here again
for the names we only read (orders, pricing files, QuickBooks records).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=65536)  # a pricing file names the same customers and items thousands of times
def name_key(name: str) -> str:
    """The comparison key of a name; two names match when their keys are equal."""
    # Stored composed: NFC of the standard's final NFD is the same key (NFC(NFD(s)) == NFC(s)), shorter and
    # readable in a query, so that last NFD is folded into it.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name.strip()).casefold())
