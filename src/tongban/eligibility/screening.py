"""Screening a population (or a file of applicants) with the vectorised rules.

The rule set's department reads each dataset once for everyone, so its grants are
checked once per dataset (live, for this purpose, covering the fields, unmasked, and
asking for no case or consent per subject: a screening grant rests on a statute), and
one use is counted per dataset. What was read is logged with sharing's
`log_bulk_accesses` (an access row per dataset, the subjects once): for a file of
applicants, every subject named; for a whole population, the subjects the screening
found eligible (whose data now serves a decision about them), while the run itself
(population size, datasets, fields, grants) is one audit entry and one ledger act.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import utcnow
from tongban.eligibility import rules, service, vector
from tongban.eligibility.models import RuleSet
from tongban.identity.actor import Actor
from tongban.ledger.service import record_act
from tongban.sharing import grants, queries, registries
from tongban.sharing.models import Grant, SharingType

NEEDS_REASON = {"case": "case_required", "consent": "consent_required",
                "case_or_consent": "case_or_consent_required"}


@dataclass
class Screened:
    rule_set: RuleSet
    bound: rules.BoundRuleSet
    table: pl.DataFrame  # subject_key, one column per rule, eligible (and values)
    grants: dict[str, Grant]

    @property
    def eligible_keys(self) -> list[str]:
        return self.table.filter(pl.col("eligible"))[vector.KEY].to_list()


def _refused(reason: str, dataset: str, **details: Any) -> service.Refused:
    return service.Refused(reason, service.REASONS.get(reason, reason),
                           {"dataset": dataset, **details})


def gate(*, db_session: Session, bound: rules.BoundRuleSet, department: Department,
         now: datetime) -> dict[str, Grant] | service.Refused:
    """The grant of every dataset the rule set reads, checked for a screening; the first
    reason one is missing otherwise."""
    consumer = queries.local_consumer(department)
    doc = bound.doc
    found: dict[str, Grant] = {}
    for dataset, fields in bound.datasets.items():
        if registries.get_dataset(db_session=db_session, code=dataset).sharing_type == \
                SharingType.not_shared:
            return _refused("dataset_not_shared", dataset)
        grant, why = queries.live_grant(db_session=db_session, consumer=consumer,
                                        dataset=dataset, purpose_code=doc.purpose_code,
                                        now=now)
        if grant is None or why is not None:
            return _refused(why or "no_grant", dataset)
        granted: dict[str, str] = grant.detail["scope"]["fields"]
        outside = sorted(set(fields) - set(granted))
        if outside:
            return _refused("field_not_granted", dataset, fields=outside)
        masked = sorted(f for f in fields if granted[f] != "none")
        if masked:
            return _refused("field_masked", dataset, fields=masked)
        if grant.requires != "none":
            return _refused(NEEDS_REASON[grant.requires], dataset)
        found[dataset] = grant
    for grant in found.values():
        grants.usage(db_session=db_session, grant_id=grant.grant_id)
    exhausted = grants.use_all(db_session=db_session, grants=list(found.values()), now=now)
    if exhausted is not None:
        return _refused("grant_exhausted", next(d for d, g in found.items()
                                                if g.grant_id == exhausted))
    return found


def _log(db_session: Session, settings: Settings, actor: Actor, screened: Screened,
         department: Department, keys: Sequence[str], now: datetime, population: int
         ) -> None:
    doc = screened.bound.doc
    queries.log_bulk_accesses(
        db_session=db_session, settings=settings, actor=actor,
        consumer=queries.local_consumer(department), purpose_code=doc.purpose_code,
        purpose_text=doc.purpose_text, subject_keys=keys, now=now,
        reads=[queries.BulkRead(dataset, fields or [service.SUBJECT_FIELD[doc.subject_kind]],
                                screened.grants[dataset], doc.legal_basis)
               for dataset, fields in screened.bound.datasets.items()])
    details = {"rule_set": doc.code, "version": doc.version,
               "sha256": screened.rule_set.sha256, "population": population,
               "eligible": len(screened.eligible_keys), "logged_subjects": len(keys),
               "grants": {d: f"{g.grant_id}@{g.version}" for d, g in screened.grants.items()},
               "datasets": screened.bound.datasets}
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="eligibility.screening", entity="eligibility_rule_set",
          entity_id=f"{doc.code}@{doc.version}", details=details)
    record_act(db_session=db_session, kind="eligibility.screening",
               payload={**details, "at": now.isoformat()})


@dataclass
class _Gated:
    """A rule set whose grants passed, ready to read and evaluate."""

    rule_set: RuleSet
    bound: rules.BoundRuleSet
    department: Department
    grants: dict[str, Grant]


def _gated(db_session: Session, actor: Actor, code: str, now: datetime
           ) -> _Gated | service.Refused:
    """The rule set in effect, its department and its grants checked (a refusal
    audited)."""
    rule_set = service.current_rule_set(db_session=db_session, code=code)
    bound = service.bound_rule_set(db_session=db_session, rule_set=rule_set)
    department = service.acting_department(db_session=db_session, actor=actor,
                                           rule_set=rule_set)
    if department is None:
        return service.refuse(db_session, actor, rule_set, "not_policy_staff")
    checked = gate(db_session=db_session, bound=bound, department=department, now=now)
    if isinstance(checked, service.Refused):
        audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
              action="eligibility.refused", entity="eligibility_rule_set",
              entity_id=f"{rule_set.code}@{rule_set.version}",
              details={"reason": checked.reason, **checked.details})
        return checked
    return _Gated(rule_set, bound, department, checked)


def _evaluated(db_session: Session, settings: Settings, actor: Actor, gated: _Gated,
               frames: vector.Frames, keys: Sequence[str] | None, values: bool,
               now: datetime) -> Screened:
    """One rule set over the frames read, and its reads logged."""
    table = vector.evaluate(gated.bound, frames, values=values)
    screened = Screened(gated.rule_set, gated.bound, table, gated.grants)
    logged = list(keys) if keys is not None else screened.eligible_keys
    _log(db_session, settings, actor, screened, gated.department, logged, now, table.height)
    return screened


def screen(*, db_session: Session, settings: Settings, actor: Actor, code: str,
           keys: Sequence[str] | None = None, values: bool = False,
           progress: Callable[[str], None] | None = None, now: datetime | None = None
           ) -> Screened | service.Refused:
    """The rule set in effect over its whole population, or over the subjects of `keys`
    (a file of applicants), as one table; grants checked once, reads logged."""
    now = now or utcnow()
    gated = _gated(db_session, actor, code, now)
    if isinstance(gated, service.Refused):
        return gated
    frames = vector.read_frames(db_session=db_session, rule_set=gated.bound, keys=keys,
                                progress=progress)
    return _evaluated(db_session, settings, actor, gated, frames, keys, values, now)


def screen_many(*, db_session: Session, settings: Settings, actor: Actor,
                codes: Sequence[str], progress: Callable[[str], None] | None = None,
                now: datetime | None = None) -> dict[str, Screened | service.Refused]:
    """Several rule sets over their whole populations (the nightly run), each registry
    read once for all of them: every rule set's grants are checked first, as `screen`
    checks them, and only the fields of the rule sets that passed are read; each rule
    set is evaluated on the columns its own grants cover, and its reads are logged
    under its own grants and purpose, as `screen` logs them."""
    now = now or utcnow()
    out: dict[str, Screened | service.Refused] = {}
    passed: list[_Gated] = []
    for code in codes:
        gated = _gated(db_session, actor, code, now)
        if isinstance(gated, service.Refused):
            out[code] = gated
        else:
            passed.append(gated)
    frames = vector.read_datasets(db_session=db_session, progress=progress,
                                  wanted=vector.wanted_fields([g.bound for g in passed]))
    for gated in passed:
        out[gated.rule_set.code] = _evaluated(db_session, settings, actor, gated, frames,
                                              None, False, now)
    return {code: out[code] for code in codes}
