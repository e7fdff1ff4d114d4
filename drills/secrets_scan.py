"""After the drills: look for every secret the drills used anywhere a person or a log shipper could read.

Scanned: every file under the drill's folder (the Dagster home: run logs, event log, run storage; the
data folder), everything the run processes printed, every value in every table of the project
database (tokens are encrypted there, so not even that table may hold one in clear), and the error
messages the bad-input drill collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa


def database_text(engine: sa.Engine) -> str:
    parts = []
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                parts.append(" ".join(str(value) for value in row))
    return "\n".join(parts)


def scan(secrets: dict[str, str], *, folders: Iterable[Path], texts: dict[str, str]) -> list[str]:
    """Where each secret was found, as 'secret name in place'; empty when clean."""
    hits = []
    needles = {name: value.encode() for name, value in secrets.items() if value and len(value) >= 12}
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            data = path.read_bytes()
            hits += [f"{name} in {path}" for name, needle in needles.items() if needle in data]
    for place, text in texts.items():
        data = text.encode()
        hits += [f"{name} in {place}" for name, needle in needles.items() if needle in data]
    return hits
