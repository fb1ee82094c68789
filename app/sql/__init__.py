"""Named SQL: every hand-written runtime query lives in ``queries.sql`` as a block

    -- name --
    -- one-line description
    SELECT ...

parsed once into ``queries``, a dict of SQLAlchemy ``text()`` clauses keyed by name.
Bind parameters are ``:name``; write casts as ``CAST(:name AS type)`` (``:name::type`` is
not read as a parameter).
"""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import TextClause, text

_BLOCK = re.compile(r"^-- ([a-z0-9_]+) --$", re.MULTILINE)


def parse(source: str) -> dict[str, str]:
    parts = _BLOCK.split(source)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


QUERY_TEXT: dict[str, str] = parse((Path(__file__).parent / "queries.sql").read_text())
queries: dict[str, TextClause] = {name: text(sql) for name, sql in QUERY_TEXT.items()}
