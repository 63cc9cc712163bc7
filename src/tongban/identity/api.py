"""HTTP routes of the identity domain (thin: validate, call the service, map errors)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep, rate_limit
from tongban.config import Settings
from tongban.identity import csrf, service
from tongban.identity.actor import Actor
from tongban.identity.deps import SESSION_COOKIE, current_actor, request_token, require_roles
from tongban.identity.schemas import (
    AccountIn,
    AccountOut,
    ActForIn,
    AgentAuthorisationIn,
    AgentAuthorisationOut,
    EnterpriseIn,
    EnterpriseOut,
    LoginIn,
    LoginOut,
    MeOut,
    PersonIn,
    PersonOut,
    RevealIn,
    RevealOut,
    RevokeIn,
)
from tongban.node import ratelimit

router = APIRouter(tags=["identity"])


# --- login ------------------------------------------------------------------------


@router.post("/auth/login", response_model=LoginOut,
             dependencies=[Depends(rate_limit("login"))])
def login(
    body: LoginIn, request: Request, response: Response, db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep),
) -> LoginOut:
    """Sign in: returns a bearer token and sets the same token as an HttpOnly cookie
    (attempts are rate-limited per source and user name: 429 with Retry-After)."""
    ratelimit.check_login(ratelimit.limiter_of(request), source=ratelimit.source_of(request),
                          username=body.username)
    token, session = service.login(db_session=db, settings=settings,
                                   username=body.username, password=body.password)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=settings.session_days * 86400, httponly=True,
        samesite="lax", secure=request.url.scheme == "https", path="/",
    )
    return LoginOut(token=token, expires_at=session.expires_at,
                    account=AccountOut.of(session.account),
                    csrf_token=csrf.issue(settings=settings, session=token, presession=None))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, db: Session = DB_SESSION) -> Response:
    """Sign out: the session's token stops working and the cookie is cleared."""
    token = request_token(request)
    if token:
        service.logout(db_session=db, token=token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=MeOut)
def me(actor: Actor = Depends(current_actor), db: Session = DB_SESSION) -> MeOut:
    """The signed-in account, its roles and scopes."""
    assert actor.account_id is not None
    account = service.get_account(db_session=db, account_id=actor.account_id)
    return MeOut(account=AccountOut.of(account),
                 acting_for_authorisation_id=actor.acting_for_authorisation_id)


@router.post("/auth/acting-for", response_model=MeOut)
def act_for(body: ActForIn, request: Request, db: Session = DB_SESSION,
            _actor: Actor = Depends(current_actor)) -> MeOut:
    """An agent starts acting for a principal, under a valid authorisation."""
    session = service.act_for(db_session=db, token=request_token(request) or "",
                              authorisation_id=body.authorisation_id)
    return MeOut(account=AccountOut.of(session.account),
                 acting_for_authorisation_id=session.acting_for_authorisation_id)


@router.delete("/auth/acting-for", response_model=MeOut)
def stop_acting(request: Request, db: Session = DB_SESSION,
                _actor: Actor = Depends(current_actor)) -> MeOut:
    """The agent acts as themself again."""
    session = service.stop_acting(db_session=db, token=request_token(request) or "")
    return MeOut(account=AccountOut.of(session.account), acting_for_authorisation_id=None)


# --- people -----------------------------------------------------------------------


@router.post("/people", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
def create_person(
    body: PersonIn, db: Session = DB_SESSION, settings: Settings = Depends(get_settings_dep),
    actor: Actor = Depends(require_roles(*service.CREATE_PERSON_ROLES)),
) -> PersonOut:
    """Register a person at a window (the ID number is stored encrypted)."""
    person = service.create_person(db_session=db, settings=settings, actor=actor,
                                   name=body.name, id_number=body.id_number, phone=body.phone)
    return PersonOut.model_validate(person)


@router.get("/people", response_model=list[PersonOut])
def find_people(
    id_number: str = Query(max_length=32), db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep),
    purpose: str = Query(default="一窗受理 / window intake", min_length=2, max_length=200),
    actor: Actor = Depends(require_roles(*service.LOOKUP_PERSON_ROLES)),
) -> list[PersonOut]:
    """Look a person up by ID number (window intake); at most one result, masked; every
    look-up, found or not, is audited with its purpose."""
    person = service.lookup_person(db_session=db, settings=settings, actor=actor,
                                   id_number=id_number, purpose=purpose)
    return [PersonOut.model_validate(person)] if person else []


@router.get("/people/{person_id}", response_model=PersonOut)
def get_person(
    person_id: uuid.UUID, db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
) -> PersonOut:
    """A person's record, masked."""
    return PersonOut.model_validate(
        service.view_person(db_session=db, actor=actor, person_id=person_id)
    )


@router.post("/people/{person_id}/reveal", response_model=RevealOut)
def reveal_id_number(
    person_id: uuid.UUID, body: RevealIn, db: Session = DB_SESSION,
    settings: Settings = Depends(get_settings_dep), actor: Actor = Depends(current_actor),
) -> RevealOut:
    """The full ID number, for a stated purpose; the reveal is audited."""
    number = service.reveal_id_number(db_session=db, settings=settings, actor=actor,
                                      person_id=person_id, purpose=body.purpose,
                                      case_id=body.case_id)
    return RevealOut(person_id=person_id, id_number=number)


# --- enterprises ------------------------------------------------------------------


@router.post("/enterprises", response_model=EnterpriseOut, status_code=status.HTTP_201_CREATED)
def create_enterprise(
    body: EnterpriseIn, db: Session = DB_SESSION,
    actor: Actor = Depends(require_roles(*service.CREATE_ENTERPRISE_ROLES)),
) -> EnterpriseOut:
    """Register an enterprise by its credit code."""
    enterprise = service.create_enterprise(
        db_session=db, actor=actor, name=body.name, credit_code=body.credit_code,
        region_code=body.region_code, legal_representative_id=body.legal_representative_id,
    )
    return EnterpriseOut.model_validate(enterprise)


@router.get("/enterprises", response_model=list[EnterpriseOut])
def find_enterprises(
    credit_code: str = Query(max_length=32), db: Session = DB_SESSION,
    _actor: Actor = Depends(current_actor),
) -> list[EnterpriseOut]:
    """Look an enterprise up by credit code (public data, for signed-in callers)."""
    enterprise = service.find_enterprise_by_credit_code(db_session=db, credit_code=credit_code)
    return [EnterpriseOut.model_validate(enterprise)] if enterprise else []


@router.get("/enterprises/{enterprise_id}", response_model=EnterpriseOut)
def get_enterprise(
    enterprise_id: uuid.UUID, db: Session = DB_SESSION,
    _actor: Actor = Depends(current_actor),
) -> EnterpriseOut:
    """One enterprise."""
    return EnterpriseOut.model_validate(
        service.get_enterprise(db_session=db, enterprise_id=enterprise_id)
    )


# --- accounts ---------------------------------------------------------------------


@router.post("/accounts", response_model=AccountOut, status_code=status.HTTP_201_CREATED)
def create_account(
    body: AccountIn, db: Session = DB_SESSION,
    actor: Actor = Depends(require_roles(*service.MANAGE_ACCOUNT_ROLES)),
) -> AccountOut:
    """Open an account (operators: staff with roles and scopes, or applicants)."""
    account = service.create_account(
        db_session=db, actor=actor, username=body.username, password=body.password,
        display_name=body.display_name, roles=body.roles,
        scopes=[(s.region_code, s.department_id) for s in body.scopes],
        person_id=body.person_id, enterprise_id=body.enterprise_id,
    )
    return AccountOut.of(account)


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(
    account_id: uuid.UUID, db: Session = DB_SESSION, actor: Actor = Depends(current_actor),
) -> AccountOut:
    """An account: your own, or any for an operator."""
    return AccountOut.of(service.view_account(db_session=db, actor=actor, account_id=account_id))


# --- agent authorisations ---------------------------------------------------------


@router.post("/agent-authorisations", response_model=AgentAuthorisationOut,
             status_code=status.HTTP_201_CREATED)
def create_agent_authorisation(
    body: AgentAuthorisationIn, db: Session = DB_SESSION,
    actor: Actor = Depends(current_actor),
) -> AgentAuthorisationOut:
    """Record an authorisation (by the principal, or by a clerk at a window)."""
    auth = service.create_agent_authorisation(
        db_session=db, actor=actor, agent_account_id=body.agent_account_id,
        principal_person_id=body.principal_person_id,
        principal_enterprise_id=body.principal_enterprise_id, item_codes=body.item_codes,
        valid_from=body.valid_from, valid_until=body.valid_until,
    )
    return AgentAuthorisationOut.model_validate(auth)


@router.get("/agent-authorisations", response_model=list[AgentAuthorisationOut])
def list_agent_authorisations(
    agent_account_id: uuid.UUID | None = None, principal_person_id: uuid.UUID | None = None,
    principal_enterprise_id: uuid.UUID | None = None, db: Session = DB_SESSION,
    actor: Actor = Depends(current_actor),
) -> list[AgentAuthorisationOut]:
    """Authorisations you gave or hold (staff: any, filtered)."""
    auths = service.list_agent_authorisations(
        db_session=db, actor=actor, agent_account_id=agent_account_id,
        principal_person_id=principal_person_id,
        principal_enterprise_id=principal_enterprise_id,
    )
    return [AgentAuthorisationOut.model_validate(a) for a in auths]


@router.post("/agent-authorisations/{authorisation_id}/revoke",
             response_model=AgentAuthorisationOut)
def revoke_agent_authorisation(
    authorisation_id: uuid.UUID, body: RevokeIn | None = None, db: Session = DB_SESSION,
    actor: Actor = Depends(current_actor),
) -> AgentAuthorisationOut:
    """End an authorisation now."""
    auth = service.revoke_agent_authorisation(
        db_session=db, actor=actor, authorisation_id=authorisation_id,
        reason=body.reason if body else "",
    )
    return AgentAuthorisationOut.model_validate(auth)
