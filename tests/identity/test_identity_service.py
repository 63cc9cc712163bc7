"""Identity rules at the service level: people, enterprises, accounts, sessions, agents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban.audit.service import list_for
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tongban.identity import service
from tongban.identity.actor import SYSTEM_ACTOR, Actor, Scope
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.identity.models import Account, AgentAuthorisation, Person
from tongban.node.root import wiring

from .conftest import PASSWORD, AccountMaker

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ID_CHENGDU = make_resident_id("510104", date(1990, 5, 17), 123)
ID_BEIJING = make_resident_id("110101", date(1985, 11, 2), 246)


def _person(db_session: Session, settings: Settings, number: str = ID_CHENGDU,
            name: str = "张三") -> Person:
    person = service.create_person(db_session=db_session, settings=settings, actor=SYSTEM_ACTOR,
                                   name=name, id_number=number, phone="138 0000 1234")
    db_session.commit()
    return person


# --- people -------------------------------------------------------------------------


def test_a_person_is_stored_encrypted_hashed_and_masked(
    db_session: Session, settings: Settings
) -> None:
    person = _person(db_session, settings)
    assert ID_CHENGDU.encode() not in person.id_number_enc
    assert person.id_number_masked == "510***********" + ID_CHENGDU[-4:]
    assert (person.birth_date, person.gender, person.home_region) == (
        date(1990, 5, 17), "M", "510104")
    assert service.reveal_phone(settings=settings, person=person) == "13800001234"
    found = service.find_person_by_id_number(db_session=db_session, settings=settings,
                                             id_number=ID_CHENGDU.lower())
    assert found is not None and found.id == person.id
    assert [e.action for e in list_for(db_session=db_session, entity="person",
                                       entity_id=str(person.id))] == ["person.create"]


def test_the_same_id_number_cannot_be_registered_twice(
    db_session: Session, settings: Settings
) -> None:
    _person(db_session, settings)
    with pytest.raises(Conflict) as err:
        _person(db_session, settings, name="李四")
    assert err.value.details == {"field": "id_number"}


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def test_one_real_number_is_one_person_however_its_digits_are_spelt(
    db_session: Session, settings: Settings
) -> None:
    person = _person(db_session, settings)
    for spelling in (ID_CHENGDU.translate(FULL_WIDTH), f" {ID_CHENGDU.lower()} "):
        with pytest.raises(Conflict):
            _person(db_session, settings, number=spelling, name="李四")
        found = service.find_person_by_id_number(db_session=db_session, settings=settings,
                                                 id_number=spelling)
        assert found is not None and found.id == person.id
    for foreign in (ARABIC_INDIC, DEVANAGARI):
        with pytest.raises(InvalidInput) as err:
            _person(db_session, settings, number=ID_CHENGDU.translate(foreign), name="李四")
        assert err.value.details["field"] == "id_number"
    assert db_session.scalar(select(func.count()).select_from(Person)) == 1


def test_unknown_id_number_finds_nobody(db_session: Session, settings: Settings) -> None:
    assert service.find_person_by_id_number(
        db_session=db_session, settings=settings, id_number=ID_BEIJING) is None


# --- reveal -------------------------------------------------------------------------


def _staff(role: str, region: str) -> Actor:
    return Actor(account_id=None, name=f"{role}@{region}", roles=frozenset({role}),
                 scopes=(Scope(region),))


@pytest.mark.parametrize(("actor", "expected"), [
    (_staff("clerk", "510104"), "scope"),
    (_staff("reviewer", "510000"), "scope"),
    (_staff("clerk", "100000"), "scope"),
    (_staff("clerk", "510107"), None),       # the next district
    (_staff("clerk", "110000"), None),       # another province
    (_staff("supervisor", "510000"), None),  # role may not see numbers
    (_staff("operator", "510000"), None),
])
def test_who_may_reveal_an_id_number(
    db_session: Session, settings: Settings, actor: Actor, expected: str | None
) -> None:
    person = _person(db_session, settings)
    if expected is None:
        with pytest.raises(Forbidden):
            service.reveal_id_number(db_session=db_session, settings=settings, actor=actor,
                                     person_id=person.id, purpose="窗口核验身份")
        return
    number = service.reveal_id_number(db_session=db_session, settings=settings, actor=actor,
                                      person_id=person.id, purpose="窗口核验身份")
    assert number == ID_CHENGDU
    entry = list_for(db_session=db_session, entity="person", entity_id=str(person.id))[-1]
    assert entry.action == "person.reveal_id_number"
    assert entry.details["purpose"] == "窗口核验身份" and entry.details["basis"] == expected


def test_the_person_may_reveal_their_own_number(db_session: Session, settings: Settings) -> None:
    person = _person(db_session, settings)
    me = Actor(account_id=None, name="张三", roles=frozenset({"applicant"}), person_id=person.id)
    assert service.reveal_id_number(db_session=db_session, settings=settings, actor=me,
                                    person_id=person.id, purpose="本人查看") == ID_CHENGDU


def test_a_clerk_handling_the_case_may_reveal_across_regions(
    db_session: Session, settings: Settings
) -> None:
    person = _person(db_session, settings)
    clerk = _staff("clerk", "110101")
    handled: list[tuple[object, object]] = []

    def handles(*, db_session: Session, actor: Actor, person_id: object,
                case_id: object) -> bool:
        handled.append((person_id, case_id))
        return actor is clerk and case_id is not None

    with wiring().case_handler_checks.added("test.handles", handles):
        with pytest.raises(Forbidden):
            service.reveal_id_number(db_session=db_session, settings=settings, actor=clerk,
                                     person_id=person.id, purpose="异地代收核验")
        number = service.reveal_id_number(db_session=db_session, settings=settings,
                                          actor=clerk, person_id=person.id,
                                          purpose="异地代收核验", case_id=person.id)
    assert number == ID_CHENGDU
    assert handled[-1] == (person.id, person.id)


@pytest.mark.parametrize("purpose", ["", " ", "x", "x" * 201])
def test_a_reveal_must_state_its_purpose(
    db_session: Session, settings: Settings, purpose: str
) -> None:
    person = _person(db_session, settings)
    with pytest.raises(InvalidInput) as err:
        service.reveal_id_number(db_session=db_session, settings=settings,
                                 actor=_staff("clerk", "510104"), person_id=person.id,
                                 purpose=purpose)
    assert err.value.details["field"] == "purpose"


# --- enterprises --------------------------------------------------------------------


def test_letter_first_credit_codes_are_accepted(db_session: Session, regions: list[str]) -> None:
    code = make_uscc("N", "2", "510104", "MA6CABCD")
    ent = service.create_enterprise(db_session=db_session, actor=SYSTEM_ACTOR,
                                    name="锦江区某农民专业合作社", credit_code=code.lower())
    assert ent.credit_code == code and ent.region_code == "510104"
    found = service.find_enterprise_by_credit_code(db_session=db_session, credit_code=code)
    assert found is not None and found.id == ent.id


def test_an_unknown_embedded_region_falls_back_to_its_known_parent(
    db_session: Session, regions: list[str]
) -> None:
    code = make_uscc("9", "1", "510199", "MA6CABCD")  # not in our table; 510100 is
    ent = service.create_enterprise(db_session=db_session, actor=SYSTEM_ACTOR, name="某公司",
                                    credit_code=code)
    assert ent.region_code == "510100"
    with pytest.raises(InvalidInput) as err:
        service.create_enterprise(db_session=db_session, actor=SYSTEM_ACTOR, name="某公司",
                                  credit_code=make_uscc("9", "1", "990101", "MA6CABCD"))
    assert err.value.details["field"] == "region_code"


# --- accounts -----------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"roles": ["clerk"]}, "scopes"),
    ({"roles": ["clerk"], "scopes": [("999999", None)]}, "scopes"),
    ({"roles": ["applicant"]}, "person_id"),
    ({"roles": ["applicant"], "scopes": [("510104", None)]}, "person_id"),
    ({"roles": []}, "roles"),
    ({"roles": ["king"]}, "roles"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "password": ""}, "password"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "password": "short1"}, "password"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "password": "onlyletters"}, "password"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "password": "wang.clerk-99"},
     "password"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "username": "x"}, "username"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "username": "王 clerk"}, "username"),
    ({"roles": ["clerk"], "scopes": [("510104", None)], "display_name": " "}, "display_name"),
])
def test_account_rules(db_session: Session, regions: list[str], kwargs: dict[str, Any],
                       field: str) -> None:
    args: dict[str, Any] = {"username": "wang.clerk", "password": PASSWORD,
                               "display_name": "王窗口", "scopes": []}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as err:
        service.create_account(db_session=db_session, actor=SYSTEM_ACTOR, **args)
    assert err.value.details["field"] == field
    assert db_session.scalar(select(func.count()).select_from(Account)) == 0


def test_staff_scopes_may_name_a_department(
    db_session: Session, department: Department, make_account: AccountMaker
) -> None:
    region, dept_id = service.department_scope(db_session=db_session,
                                               credit_code=department.credit_code)
    account = make_account("li.reviewer", ["reviewer"], [(region, dept_id)])
    assert [(s.region_code, s.department_id) for s in account.scopes] == [("510104", dept_id)]
    with pytest.raises(InvalidInput):
        service.department_scope(db_session=db_session,
                                 credit_code=make_uscc("1", "1", "510104", "MB999999"))


def test_usernames_are_unique_ignoring_case(make_account: AccountMaker,
                                            db_session: Session) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    with pytest.raises(Conflict) as err:
        make_account("Wang.Clerk", ["clerk"], [("510104", None)])
    assert err.value.details == {"field": "username"}


def test_an_account_is_created_with_an_audit_entry(make_account: AccountMaker,
                                                   db_session: Session) -> None:
    account = make_account("wang.clerk", ["clerk", "reviewer"], [("510100", None)])
    entry = list_for(db_session=db_session, entity="account", entity_id=str(account.id))[0]
    assert entry.action == "account.create"
    assert entry.details["roles"] == ["clerk", "reviewer"]
    assert PASSWORD not in str(entry.details)
    assert account.password_hash.startswith("$argon2id$")


# --- sessions -----------------------------------------------------------------------


def test_login_logout_and_expiry(make_account: AccountMaker, db_session: Session,
                                 settings: Settings) -> None:
    account = make_account("wang.clerk", ["clerk"], [("510104", None)])
    token, session = service.login(db_session=db_session, settings=settings,
                                   username="WANG.clerk", password=PASSWORD, now=NOW)
    db_session.commit()
    assert session.token_hash != token and len(session.token_hash) == 64
    assert session.expires_at == NOW + timedelta(days=settings.session_days)
    actor = service.actor_for_token(db_session=db_session, token=token, now=NOW)
    assert actor is not None and actor.account_id == account.id
    assert actor.roles == {"clerk"} and actor.scopes == (Scope("510104"),)
    later = session.expires_at
    assert service.actor_for_token(db_session=db_session, token=token, now=later) is None
    assert service.actor_for_token(db_session=db_session, token=token + "x", now=NOW) is None
    service.logout(db_session=db_session, token=token, now=NOW)
    assert service.actor_for_token(db_session=db_session, token=token, now=NOW) is None
    actions = [e.action for e in list_for(db_session=db_session, entity="account",
                                          entity_id=str(account.id))]
    assert actions == ["account.create", "account.login", "account.logout"]


@pytest.mark.parametrize(("username", "password"), [
    ("wang.clerk", "wrong-password-1"), ("nobody", PASSWORD), ("wang.clerk", "")])
def test_bad_credentials_are_refused_alike(make_account: AccountMaker, db_session: Session,
                                           settings: Settings, username: str,
                                           password: str) -> None:
    make_account("wang.clerk", ["clerk"], [("510104", None)])
    with pytest.raises(Unauthenticated, match="用户名或密码错误"):
        service.login(db_session=db_session, settings=settings, username=username,
                      password=password)


def test_a_deactivated_account_cannot_log_in_or_act(make_account: AccountMaker,
                                                    db_session: Session,
                                                    settings: Settings) -> None:
    account = make_account("wang.clerk", ["clerk"], [("510104", None)])
    token, _ = service.login(db_session=db_session, settings=settings, username="wang.clerk",
                             password=PASSWORD)
    account.active = False
    db_session.commit()
    assert service.actor_for_token(db_session=db_session, token=token) is None
    with pytest.raises(Unauthenticated):
        service.login(db_session=db_session, settings=settings, username="wang.clerk",
                      password=PASSWORD)


# --- agent authorisations -----------------------------------------------------------


@dataclass
class Parties:
    principal: Person
    agent: Account
    actors: dict[str, Actor]


@pytest.fixture
def parties(db_session: Session, settings: Settings, make_account: AccountMaker) -> Parties:
    """张三 (principal), 赵帮办 (agent), a clerk in 锦江区, and an unrelated applicant."""
    principal = _person(db_session, settings)
    agent_person = _person(db_session, settings, ID_BEIJING, "赵帮办")
    accounts = {
        "principal": make_account("zhang.san", ["applicant"], person_id=principal.id),
        "agent": make_account("zhao.agent", ["agent"], person_id=agent_person.id),
        "clerk": make_account("wang.clerk", ["clerk"], [("510104", None)]),
        "stranger": make_account("someone", ["applicant"], person_id=agent_person.id),
    }
    return Parties(principal=principal, agent=accounts["agent"],
                   actors={k: service.actor_from_account(a) for k, a in accounts.items()})


ITEM = "000201001000"
OTHER_ITEM = "000201002000"


def _authorise(db_session: Session, parties: Parties, by: str = "principal",
               **kwargs: Any) -> AgentAuthorisation:
    args: dict[str, Any] = {
        "agent_account_id": parties.agent.id, "principal_person_id": parties.principal.id,
        "item_codes": [ITEM], "valid_from": NOW, "valid_until": NOW + timedelta(days=30),
        "now": NOW,
    }
    args.update(kwargs)
    return service.create_agent_authorisation(db_session=db_session, actor=parties.actors[by],
                                              **args)


def _check(db_session: Session, parties: Parties, at: datetime,
           item: str = ITEM) -> AgentAuthorisation:
    return service.check_agent_authorisation(
        db_session=db_session, agent_account_id=parties.agent.id,
        principal_person_id=parties.principal.id, item_code=item, at=at)


def _revoke(db_session: Session, parties: Parties, by: str, auth_id: uuid.UUID,
            reason: str = "") -> AgentAuthorisation:
    return service.revoke_agent_authorisation(db_session=db_session, actor=parties.actors[by],
                                              authorisation_id=auth_id, reason=reason, now=NOW)


def test_the_principal_or_a_clerk_may_authorise_an_agent(
    db_session: Session, parties: Parties
) -> None:
    by_self = _authorise(db_session, parties)
    by_clerk = _authorise(db_session, parties, by="clerk", item_codes=[OTHER_ITEM])
    assert _check(db_session, parties, NOW + timedelta(days=1)) is by_self
    assert _check(db_session, parties, NOW, item=OTHER_ITEM) is by_clerk
    entry = list_for(db_session=db_session, entity="agent_authorisation",
                     entity_id=str(by_clerk.id))[0]
    assert entry.action == "agent_authorisation.create"
    with pytest.raises(Forbidden):
        _authorise(db_session, parties, by="stranger")
    with pytest.raises(Forbidden):
        _authorise(db_session, parties, by="agent")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"valid_until": NOW}, "valid_until"),
    ({"valid_from": NOW + timedelta(days=5), "valid_until": NOW + timedelta(days=1)},
     "valid_until"),
    ({"item_codes": ["not-a-code"]}, "item_codes"),
    ({"principal_person_id": None}, "principal"),
])
def test_authorisation_input_rules(db_session: Session, parties: Parties,
                                   kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _authorise(db_session, parties, by="clerk", **kwargs)
    assert err.value.details["field"] == field


def test_only_agent_accounts_can_be_authorised(db_session: Session,
                                               parties: Parties) -> None:
    clerk_id = parties.actors["clerk"].account_id
    with pytest.raises(InvalidInput) as err:
        _authorise(db_session, parties, agent_account_id=clerk_id)
    assert err.value.details["field"] == "agent_account_id"


@pytest.mark.parametrize(("at_days", "item", "revoke", "reason"), [
    (1, ITEM, False, None),
    (-1, ITEM, False, "not_yet_valid"),
    (30, ITEM, False, "expired"),
    (1, OTHER_ITEM, False, "item_not_covered"),
    (1, ITEM, True, "revoked"),
])
def test_check_agent_authorisation_says_why(
    db_session: Session, parties: Parties, at_days: int, item: str, revoke: bool,
    reason: str | None,
) -> None:
    auth = _authorise(db_session, parties)
    if revoke:
        _revoke(db_session, parties, "principal", auth.id)
    at = NOW + timedelta(days=at_days)
    if reason is None:
        assert _check(db_session, parties, at, item) is auth
        return
    with pytest.raises(Forbidden) as err:
        _check(db_session, parties, at, item)
    assert err.value.code == "agent_not_authorised"
    assert err.value.details["reason"] == reason


def test_no_authorisation_at_all(db_session: Session, parties: Parties) -> None:
    with pytest.raises(Forbidden) as err:
        _check(db_session, parties, NOW)
    assert err.value.details["reason"] == "none"


def test_an_authorisation_without_items_covers_every_item(
    db_session: Session, parties: Parties
) -> None:
    auth = _authorise(db_session, parties, item_codes=[])
    assert _check(db_session, parties, NOW, item=OTHER_ITEM) is auth


def test_a_later_authorisation_outlives_a_revoked_one(
    db_session: Session, parties: Parties
) -> None:
    old = _authorise(db_session, parties)
    _revoke(db_session, parties, "agent", old.id)
    new = _authorise(db_session, parties, by="clerk")
    assert _check(db_session, parties, NOW + timedelta(hours=1)) is new


def test_revocation_rules(db_session: Session, parties: Parties) -> None:
    auth = _authorise(db_session, parties)
    with pytest.raises(Forbidden):
        _revoke(db_session, parties, "stranger", auth.id)
    _revoke(db_session, parties, "clerk", auth.id, reason="本人来电撤销")
    with pytest.raises(Conflict):
        _revoke(db_session, parties, "principal", auth.id)
    actions = [e.action for e in list_for(db_session=db_session, entity="agent_authorisation",
                                          entity_id=str(auth.id))]
    assert actions == ["agent_authorisation.create", "agent_authorisation.revoke"]
    with pytest.raises(NotFound):
        _revoke(db_session, parties, "clerk", parties.principal.id)


def test_applicants_list_only_their_own_authorisations(
    db_session: Session, parties: Parties
) -> None:
    auth = _authorise(db_session, parties)
    for who, expected in [("principal", [auth]), ("agent", [auth]), ("stranger", []),
                          ("clerk", [auth])]:
        assert service.list_agent_authorisations(
            db_session=db_session, actor=parties.actors[who]) == expected, who


def test_an_agent_session_acts_for_the_principal_while_the_authorisation_holds(
    db_session: Session, settings: Settings, parties: Parties
) -> None:
    auth = _authorise(db_session, parties)
    token, _ = service.login(db_session=db_session, settings=settings, username="zhao.agent",
                             password=PASSWORD, now=NOW)
    service.act_for(db_session=db_session, token=token, authorisation_id=auth.id,
                    now=NOW + timedelta(hours=1))
    actor = service.actor_for_token(db_session=db_session, token=token,
                                    now=NOW + timedelta(hours=2))
    assert actor is not None and actor.acting_for_authorisation_id == auth.id
    _revoke(db_session, parties, "principal", auth.id)
    actor = service.actor_for_token(db_session=db_session, token=token,
                                    now=NOW + timedelta(hours=3))
    assert actor is not None and actor.acting_for_authorisation_id is None
    with pytest.raises(Forbidden) as err:
        service.act_for(db_session=db_session, token=token, authorisation_id=auth.id,
                        now=NOW + timedelta(hours=3))
    assert err.value.details["reason"] == "revoked"


def test_only_the_authorised_agent_may_act_under_it(
    db_session: Session, settings: Settings, parties: Parties
) -> None:
    auth = _authorise(db_session, parties)
    token, _ = service.login(db_session=db_session, settings=settings, username="wang.clerk",
                             password=PASSWORD, now=NOW)
    with pytest.raises(Forbidden):
        service.act_for(db_session=db_session, token=token, authorisation_id=auth.id, now=NOW)


@pytest.mark.parametrize("field", ["principal_person_id", "agent_account_id"])
def test_referenced_rows_must_exist(db_session: Session, parties: Parties, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _authorise(db_session, parties, by="clerk", **{field: uuid.uuid4()})
    assert err.value.details["field"] == field


def test_an_account_for_an_unknown_person_names_the_field(db_session: Session,
                                                         regions: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        service.create_account(db_session=db_session, actor=SYSTEM_ACTOR, username="ghost",
                               password=PASSWORD, display_name="Ghost", roles=["applicant"],
                               person_id=uuid.uuid4())
    assert err.value.details["field"] == "person_id"
