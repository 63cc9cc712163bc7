"""Who may see a case and who may act on it, in which role.

can_see() answers for one loaded case; visible_clause() is the same rule as a WHERE
clause for lists and counts, so the two live side by side and must agree. allowed_actions()
and _acting_role() read the case's workflow table for the roles an action needs.
The underscore helpers are shared with service.py, inside this package only.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, false, or_, true

from tongban.cases.models import Case
from tongban.cases.workflow import Transition, workflow_for
from tongban.errors import Forbidden
from tongban.identity.actor import Actor, region_prefix

CASE_STAFF_ROLES = ("clerk", "reviewer", "supervisor", "operator")
SYSTEM_ROLE = "system"


def _owns(actor: Actor, case: Case) -> bool:
    """The applicant's own case (by account, person or enterprise)."""
    return (
        (actor.account_id is not None and case.applicant_account_id == actor.account_id)
        or (actor.person_id is not None and case.applicant_person_id == actor.person_id)
        or (actor.enterprise_id is not None
            and case.applicant_enterprise_id == actor.enterprise_id)
    )


def _may_act_as(actor: Actor, case: Case, role: str) -> bool:
    """Whether the actor holds `role` and, for it, has this case (own, filed, in scope)."""
    if not actor.has(role):
        return False
    if role == SYSTEM_ROLE:
        return True
    if role == "applicant":
        return _owns(actor, case)
    if role == "agent":
        return (case.agent_authorisation_id is not None
                and case.submitted_by_account_id == actor.account_id)
    return actor.covers(case.region_code, case.department_id)


def can_see(actor: Actor, case: Case) -> bool:
    """Whether the actor may read the case."""
    if actor.has(SYSTEM_ROLE):
        return True
    if actor.has("applicant") and _owns(actor, case):
        return True
    if actor.has("agent") and case.submitted_by_account_id == actor.account_id:
        return True
    return actor.has(*CASE_STAFF_ROLES) and (
        actor.covers(case.region_code, case.department_id)
        or actor.covers(case.receiving_region_code)
    )


def allowed_actions(*, actor: Actor, case: Case) -> list[str]:
    """The actions this caller may take on the case now."""
    wf = workflow_for(case.workflow)
    return [r.action.value for r in wf.rows
            if r.state == case.state and any(_may_act_as(actor, case, x) for x in r.roles)]


def _acting_role(actor: Actor, case: Case, row: Transition) -> str:
    """The role the actor acts in, or 403 (wrong role / out of scope)."""
    for role in row.roles:
        if _may_act_as(actor, case, role):
            return role
    details = {"action": row.action.value, "state": case.state,
               "required_roles": list(row.roles),
               "allowed_actions": allowed_actions(actor=actor, case=case)}
    if actor.has(*row.roles):
        raise Forbidden("该办件不在您的辖区或部门范围内 / this case is outside your scope",
                        code="out_of_scope", details=details)
    raise Forbidden("您的角色无权执行此操作 / your role may not take this action",
                    code="wrong_role", details=details)


def _scope_clause(region_code: str, department_id: uuid.UUID | None) -> ColumnElement[bool]:
    if region_code == "100000":
        region: ColumnElement[bool] = true()
    else:
        prefix = region_prefix(region_code) + "%"
        region = or_(Case.region_code.like(prefix), Case.receiving_region_code.like(prefix))
    if department_id is None:
        return region
    return and_(region, Case.department_id == department_id)


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    """The cases the actor may see, as a WHERE clause (own, filed, or in scope)."""
    if actor.has(SYSTEM_ROLE):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if actor.has("applicant"):
        if actor.account_id is not None:
            clauses.append(Case.applicant_account_id == actor.account_id)
        if actor.person_id is not None:
            clauses.append(Case.applicant_person_id == actor.person_id)
        if actor.enterprise_id is not None:
            clauses.append(Case.applicant_enterprise_id == actor.enterprise_id)
    if actor.has("agent") and actor.account_id is not None:
        clauses.append(Case.submitted_by_account_id == actor.account_id)
    if actor.has(*CASE_STAFF_ROLES):
        clauses += [_scope_clause(s.region_code, s.department_id) for s in actor.scopes]
    return or_(*clauses) if clauses else false()
