"""Eligibility fixtures: the sharing demo world (registries of the demo people and
enterprises) with the shipped rule sets loaded and their grants made."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.sharing.conftest import World, seed_world
from tongban.config import Settings
from tongban.eligibility.demo import seed_eligibility


@pytest.fixture
def elig(db_session: Session, settings: Settings) -> World:
    """The demo registries, rule sets and grants."""
    world = seed_world(db_session, settings)
    seed_eligibility(db_session=db_session, settings=settings)
    db_session.commit()
    return world


def publish_benefit(db_session: Session, world: World, item_code: str, name: str,
                    owner: str, applicant: str = "person") -> str:
    """A published implementation of a benefit item by the 成都 department `owner`."""
    from tongban.catalog import service as catalog
    from tongban.catalog.schemas import ImplementationIn, ItemIn
    from tongban.identity.actor import SYSTEM_ACTOR

    catalog.create_item(db_session=db_session, actor=SYSTEM_ACTOR, data=ItemIn(
        basic_code=item_code, name=name, item_type="行政给付", use_levels=[3]))
    guide = {"item_kind": "promised", "applicant_types": [applicant], "materials": [],
             "legal_days": 20, "promised_days": 10, "fees": [],
             "handling_forms": ["window", "online"], "online_depth": 4,
             "result": {"name": f"{name}决定", "kind": "document"}}
    draft = catalog.create_draft(db_session=db_session, actor=SYSTEM_ACTOR, data=ImplementationIn(
        basic_code=item_code, department_credit_code=world.owners[owner], region_code="510100",
        level=3, name=f"{name}(成都)", guide=guide, form_schema={"type": "object"}))
    catalog.publish(db_session=db_session, actor=SYSTEM_ACTOR,
                    implementation_code=draft.implementation_code)
    db_session.commit()
    return draft.implementation_code
