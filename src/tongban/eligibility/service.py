"""Eligibility: load rule sets, and check one subject against one (一键核对).

Every registry read goes through sharing's purpose-bound read (`queries.read_all`, all
the datasets of a check at once): the rule set's department is the consumer, its purpose
code the purpose, and the grant decides which fields may be read; each dataset read is
one access-log row, audit entry and ledger act, and a refusal is returned (not raised)
so that it commits with its log rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog import service as catalog
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import utcnow
from tongban.eligibility import rules, single
from tongban.eligibility.models import RuleSet
from tongban.errors import Conflict, DomainError, Forbidden, NotFound
from tongban.identity.actor import Actor
from tongban.sharing import queries, registries
from tongban.sharing.models import Dataset, SubjectKind

CHECK_ROLES = frozenset({"clerk", "reviewer", "supervisor", "data_steward"})
LOAD_ROLES = frozenset({"operator", "catalog_admin"})
SUBJECT_FIELD = {SubjectKind.person.value: "id_number", SubjectKind.enterprise.value: "credit_code"}
LEGAL_DAY = "Asia/Shanghai"


def today() -> date:
    """The legal date now (Asia/Shanghai): rule sets take effect by the local day."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(LEGAL_DAY)).date()


# --- rule sets ------------------------------------------------------------------------------


def catalog_view(*, db_session: Session) -> dict[str, rules.CatalogDataset]:
    """The sharing catalog as binding needs it: subject kinds, field types, sealing."""
    return catalog_view_of(registries.list_datasets(db_session=db_session))


def catalog_view_of(datasets: Iterable[Dataset]) -> dict[str, rules.CatalogDataset]:
    """These catalog entries as binding needs them."""
    out = {}
    for dataset in datasets:
        specs = registries.field_specs(dataset)
        out[dataset.code] = rules.CatalogDataset(
            subject_kind=dataset.subject_kind,
            fields={name: spec.type.value for name, spec in specs.items()},
            sealed_fields=frozenset(n for n, s in specs.items() if s.sealed),
            record_key=dataset.record_key)
    return out


def load_rule_set(*, db_session: Session, actor: Actor, doc: rules.RuleSetDoc,
                  department_credit_code: str) -> tuple[RuleSet, str]:
    """Store one version of a rule set, checked against the sharing catalog and bound to
    the department that runs it; the same document again changes nothing; another
    document under a stored version is refused (a change is a new version)."""
    if not actor.has(*LOAD_ROLES) and actor.account_id is not None:
        raise Forbidden("只有运维或目录管理员可以加载规则集 / only an operator or catalog "
                        "administrator loads rule sets", code="not_rule_admin")
    rules.bind(doc, catalog_view(db_session=db_session))
    department = catalog.get_department_by_credit_code(db_session=db_session,
                                                       credit_code=department_credit_code)
    sha = rules.digest(doc)
    existing = db_session.scalar(select(RuleSet).where(RuleSet.code == doc.code,
                                                       RuleSet.version == doc.version))
    if existing is not None:
        if existing.sha256 != sha or existing.department_id != department.id:
            raise Conflict("该版本已存在且内容不同,修改规则须发布新版本 / this version exists "
                           "with other content: a change is a new version",
                           code="rule_set_version_exists",
                           details={"code": doc.code, "version": doc.version})
        return existing, "unchanged"
    row = RuleSet(code=doc.code, version=doc.version, name=doc.name, kind=doc.kind,
                  subject_kind=doc.subject_kind, mode=doc.mode, confirmation=doc.confirmation,
                  department_id=department.id, effective_from=doc.effective_from,
                  effective_until=doc.effective_until, document=doc.model_dump(mode="json"),
                  sha256=sha, loaded_by=actor.account_id)
    db_session.add(row)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="eligibility.rule_set_load", entity="eligibility_rule_set",
          entity_id=f"{doc.code}@{doc.version}",
          details={"sha256": sha, "department": department.credit_code})
    return row, "created"


def list_rule_sets(*, db_session: Session) -> list[RuleSet]:
    """Every stored version, by code then version."""
    return list(db_session.scalars(select(RuleSet).order_by(RuleSet.code, RuleSet.version)))


def current_rule_set(*, db_session: Session, code: str, on: date | None = None) -> RuleSet:
    """The newest version of a rule set in effect on a day (today by default)."""
    on = on or today()
    found = db_session.scalar(
        select(RuleSet).where(RuleSet.code == code, RuleSet.effective_from <= on,
                              or_(RuleSet.effective_until.is_(None),
                                  RuleSet.effective_until > on))
        .order_by(RuleSet.version.desc()).limit(1))
    if found is None:
        raise NotFound("没有在该日期生效的规则集 / no rule set of that code is in effect",
                       code="no_rule_set", details={"rule_set": code, "on": on.isoformat()})
    return found


_PARSED: dict[tuple[str, int, str], rules.RuleSetDoc] = {}
_PARSED_MAX = 256


def document_of(rule_set: RuleSet) -> rules.RuleSetDoc:
    """The stored rule set's document, parsed once per process: a stored version never
    changes (its sha256 is part of the key), and every check of it needs the document."""
    key = (rule_set.code, rule_set.version, rule_set.sha256)
    doc = _PARSED.get(key)
    if doc is None:
        doc = rules.parse(rule_set.document)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = doc
    return doc


def bound_rule_set(*, db_session: Session, rule_set: RuleSet) -> rules.BoundRuleSet:
    """A stored rule set checked against the catalog as it is now."""
    return rules.bind(document_of(rule_set), catalog_view(db_session=db_session))


def department_of(*, db_session: Session, rule_set: RuleSet) -> Department:
    """The department that runs the rule set (loaded with it)."""
    return rule_set.department


# --- refusals -----------------------------------------------------------------------------------

REASONS = {
    "not_policy_staff": "您不是该政策主管部门的工作人员 / you are not staff of the department "
                        "that runs this policy",
    "field_masked": "授权对规则所需字段作了脱敏,无法核对 / the grant masks a field the rules "
                    "compare",
}
REASONS.update({k: v for k, v in queries.REASONS.items() if k not in REASONS})


@dataclass
class Refused:
    """A check refused: the reason, and the access-log row when a read was refused."""

    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def error(self) -> DomainError:
        return Forbidden(self.message, code=self.reason, details=self.details)


def refuse(db_session: Session, actor: Actor, rule_set: RuleSet, reason: str,
            **details: Any) -> Refused:
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="eligibility.refused", entity="eligibility_rule_set",
          entity_id=f"{rule_set.code}@{rule_set.version}", details={"reason": reason, **details})
    return Refused(reason, REASONS.get(reason, reason), {"rule_set": rule_set.code, **details})


def _from_denied(denied: queries.Denied, dataset: str) -> Refused:
    return Refused(denied.reason, denied.message,
                   {**denied.details, "dataset": dataset, "access_id": str(denied.access.id)})


def acting_department(*, db_session: Session, actor: Actor, rule_set: RuleSet
                      ) -> Department | None:
    """The rule set's department, if the actor is its staff (or the node's system)."""
    department = department_of(db_session=db_session, rule_set=rule_set)
    if actor.account_id is None and not actor.scopes:  # the node itself (jobs, demo)
        return department
    if actor.has(*CHECK_ROLES) and actor.covers(department.region_code, department.id):
        return department
    return None


# --- one subject -----------------------------------------------------------------------------


def read_subject(*, db_session: Session, settings: Settings, actor: Actor,
                 bound: rules.BoundRuleSet, department: Department,
                 subject: registries.Subject, case_number: str | None = None,
                 consent_id: uuid.UUID | None = None,
                 resolved: queries.Resolved | None = None, now: datetime | None = None
                 ) -> single.Records | Refused:
    """The subject's records of every dataset the rules read, as one purpose-bound read
    of sharing (each dataset checked and logged); a refusal, a grant masking a field
    the rules compare among them, reads nothing."""
    doc = bound.doc
    asks = [queries.Ask(dataset=dataset, subject=subject,
                        fields=wanted or [SUBJECT_FIELD[doc.subject_kind]],
                        purpose_code=doc.purpose_code, purpose_text=doc.purpose_text,
                        case_number=case_number, consent_id=consent_id, kind="eligibility",
                        compared=wanted)
            for dataset, wanted in bound.datasets.items()]
    outcome = queries.read_all(db_session=db_session, settings=settings, actor=actor,
                               consumer=queries.local_consumer(department), asks=asks,
                               resolved=resolved, now=now)
    if isinstance(outcome, queries.Denied):
        return _from_denied(outcome, outcome.access.dataset_code)
    return {dataset: allowed.records
            for dataset, allowed in zip(bound.datasets, outcome, strict=True)}


def check(*, db_session: Session, settings: Settings, actor: Actor, code: str,
          identifier: str, case_number: str | None = None,
          consent_id: uuid.UUID | None = None, now: datetime | None = None
          ) -> single.Explanation | Refused:
    """一键核对: one subject against the rule set in effect, with an explanation of every
    rule; a refused read is returned (commit, then answer 403). The catalog entries the
    rules read and the department's grants of them come in one statement, which binds
    the rules and serves every check of the read."""
    rule_set = current_rule_set(db_session=db_session, code=code)
    department = acting_department(db_session=db_session, actor=actor, rule_set=rule_set)
    if department is None:
        return refuse(db_session, actor, rule_set, "not_policy_staff")
    subject = registries.subject_of(settings=settings, kind=rule_set.subject_kind,
                                    identifier=identifier)
    doc = document_of(rule_set)
    resolved = queries.resolve(db_session=db_session,
                               consumer=queries.local_consumer(department),
                               wanted=[(d, doc.purpose_code) for d in doc.datasets()])
    bound = rules.bind(doc, catalog_view_of(resolved.datasets.values()))
    records = read_subject(db_session=db_session, settings=settings, actor=actor,
                           bound=bound, department=department,
                           subject=subject, case_number=case_number, consent_id=consent_id,
                           resolved=resolved, now=now or utcnow())
    if isinstance(records, Refused):
        return records
    return replace(single.evaluate(bound, records, sha256=rule_set.sha256),
                   subject=subject.masked)
