"""Demo eligibility: the shipped rule sets, each run by a 成都 department, and the
grants their reads need (statute-based screening: no case or consent per read, only the
fields the rules compare, unmasked)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tongban.catalog.models import ItemType
from tongban.catalog.schemas import Guide
from tongban.config import Settings
from tongban.eligibility import rules, service
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.sharing import grants
from tongban.sharing.demo import owner_departments
from tongban.sharing.fields import Masking


def grant_terms(doc: rules.RuleSetDoc, consumer_credit_code: str) -> list[grants.GrantTerms]:
    """One grant per dataset a rule set reads, for its purpose and its fields only."""
    out = []
    for dataset, fields in doc.datasets().items():
        wanted = fields or [service.SUBJECT_FIELD[doc.subject_kind]]
        out.append(grants.GrantTerms(
            dataset=dataset, consumer_credit_code=consumer_credit_code,
            purpose_code=doc.purpose_code, purpose_text=doc.purpose_text, basis="statute",
            legal_ref=doc.legal_basis, requires="none",
            fields={f: Masking.none for f in wanted}, valid_days=365, retention_days=0))
    return out


def seed_eligibility(*, db_session: Session, settings: Settings) -> int:
    """Load every shipped rule set for its 成都 department, with its grants; returns how
    many rule sets were loaded."""
    owners = owner_departments(db_session)
    for doc in rules.shipped():
        consumer = owners[doc.department]
        service.load_rule_set(db_session=db_session, actor=SYSTEM_ACTOR, doc=doc,
                              department_credit_code=consumer)
        for terms in grant_terms(doc, consumer):
            grants.create_grant(db_session=db_session, settings=settings, actor=SYSTEM_ACTOR,
                                terms=terms)
    return len(rules.shipped())


def benefit_guide(doc: rules.RuleSetDoc) -> Guide:
    """The guide of a benefit granted without an application: no material (the
    registries are the evidence), reviewed by the department like any case."""
    return Guide.model_validate({
        "item_kind": "promised", "applicant_types": [doc.subject_kind], "materials": [],
        "legal_days": 20, "promised_days": 10, "fees": [],
        "handling_forms": ["window", "online"], "online_depth": 4,
        "result": {"name": f"{doc.name}决定", "kind": "document"},
        "acceptance_conditions": [r.label for r in doc.rules]})


def seed_benefit_items(*, db_session: Session) -> int:
    """For each 免申即享 rule set whose item the standard catalog lacks (the enterprise
    policies), the item and a published implementation by its 成都 department: where the
    benefit case opens (the assistance items are the catalog's, implemented by county
    bureaus). Returns how many were published."""
    from tongban.catalog import service as catalog
    from tongban.catalog.schemas import ImplementationIn, ItemIn
    from tongban.errors import NotFound

    owners = owner_departments(db_session)
    published = 0
    for doc in rules.shipped():
        if doc.item_code is None:
            continue
        credit_code = owners[doc.department]
        try:
            catalog.get_item_by_code(db_session=db_session, basic_code=doc.item_code)
            continue  # a standard item: its implementations follow its standard guide
        except NotFound:
            catalog.create_item(db_session=db_session, actor=SYSTEM_ACTOR, data=ItemIn(
                basic_code=doc.item_code, name=doc.name, item_type=ItemType.benefit,
                use_levels=[3], legal_basis=doc.legal_basis))
        draft = catalog.create_draft(db_session=db_session, actor=SYSTEM_ACTOR,
                                     data=ImplementationIn(
            basic_code=doc.item_code, department_credit_code=credit_code,
            region_code="510100", level=3, name=f"{doc.name}(免申即享)",
            guide=benefit_guide(doc), form_schema={"type": "object"}))
        catalog.publish(db_session=db_session, actor=SYSTEM_ACTOR,
                        implementation_code=draft.implementation_code)
        published += 1
    return published
