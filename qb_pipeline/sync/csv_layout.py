"""Mistakes in a CSV file's layout, named for what they are before any row is read.

Python's csv reader is lenient: a quote that is never closed swallows the rest of the file into one field,
and a file separated by semicolons is one column per line. The row checks then report what they see (a
short row, an unknown column), which points a person at the wrong fix. These checks name the cause.

Only commas separate fields. A file separated by ';' (or tabs) is refused rather than accepted: it comes
from a locale that writes decimal commas, and a price like 1,250 must never be guessed at.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


def layout_problem(text: str) -> str | None:
    """Why `text` cannot be read as comma-separated rows ("line N: …"), or None."""
    return _separator_problem(text) or _quote_problem(text)


def _separator_problem(text: str) -> str | None:
    header = text.removeprefix("\ufeff").partition("\n")[0]
    if "," in header:
        return None
    for separator, name in OTHER_SEPARATORS.items():
        if separator in header:
            return (
                f"line 1: the file is separated by {name}; use commas (and a point for decimals, like 1250.00): "
                "save it again as comma-separated CSV"
            )
    return None


def _quote_problem(text: str) -> str | None:
    """Quoting the strict reader refuses: a quote never closed, or text after a closing quote."""
    reader = csv.reader(text_lines(text), strict=True)
    row_starts = 1  # the line the row being read starts on
    try:
        for _ in reader:
            row_starts = reader.line_num + 1
    except csv.Error as error:
        # The strict reader stops at the end of the file inside quotes, or where a "closing" quote is followed by
        # text: on a later line than the row starts, that quote was another field's opening one.
        if "unexpected end of data" in str(error) or reader.line_num > row_starts:
            return (
                f"line {row_starts}: unclosed quote starting on line {row_starts}: the rest of the file would be "
                'read as one field; close the quote (a quote inside a field is written twice: "")'
            )
        if "expected after" in str(error):
            return f'line {row_starts}: text after a closing quote; quote the whole field (a quote inside it is written twice: "")'
        return f"line {reader.line_num}: {error}"
    return None


def text_lines(text: str) -> Iterator[str]:
    """The lines of `text` one at a time, each with its newline, for `csv.reader` (as io.StringIO would give
    them; a StringIO copies the whole text at four bytes a character: 20 MB for a 100,000-row file)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end
