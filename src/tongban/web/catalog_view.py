"""What the UI reads from the catalog service, in the shape its templates use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.errors import NotFound

NATIONAL = "100000"
HOME_TOPICS = 16


@dataclass(frozen=True)
class RegionView:
    code: str
    name: str
    level: int


def _view(region: Any) -> RegionView:
    return RegionView(region.code, region.name, region.level)


def region_path(*, db_session: Session, code: str) -> list[RegionView]:
    """The region and those above it, province first; empty for an unknown code."""
    try:
        chain = catalog.region_chain(db_session=db_session, region_code=code)
    except NotFound:
        return []
    return [_view(r) for r in chain if r.code != NATIONAL]


def region_children(*, db_session: Session, code: str | None) -> list[RegionView]:
    """The regions one level below `code`; below the whole country, the provinces."""
    rows = catalog.list_children(db_session=db_session, parent_code=code)
    if code is None and [r.code for r in rows] == [NATIONAL]:
        rows = catalog.list_children(db_session=db_session, parent_code=NATIONAL)
    return [_view(r) for r in rows]


def topics(*, db_session: Session) -> list[str]:
    """Life events (item topics) to browse by, most common first."""
    counts: dict[str, int] = {}
    cursor: str | None = None
    for _ in range(5):  # the first 500 items are plenty for a home page
        items, cursor = catalog.list_items(db_session=db_session, limit=100, cursor=cursor)
        for item in items:
            for topic in item.topics or []:
                counts[topic] = counts.get(topic, 0) + 1
        if cursor is None:
            break
    return sorted(counts, key=lambda t: (-counts[t], t))[:HOME_TOPICS]
