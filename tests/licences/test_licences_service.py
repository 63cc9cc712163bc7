"""Issuing, verifying and changing the status of e-licences, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from tongban.audit.models import AuditEntry
from tongban.catalog.models import Implementation, ImplementationVersion, ServiceItem
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity import service as identity
from tongban.identity.actor import SYSTEM_ACTOR
from tongban.identity.ids import make_uscc
from tongban.licences import keys, service, signing, verify
from tongban.licences.identifiers import make_identifier, parse_identifier
from tongban.licences.models import KeyPurpose, Licence, LicenceStatusChange, LicenceType
from tongban.outbox.models import OutboxMessage

from .conftest import BUSINESS_LICENCE, RESIDENCE_PERMIT, World


def _count(world: World, model: type) -> int:
    return int(world.db_session.scalar(select(func.count()).select_from(model)) or 0)


def _verify_jws(world: World, token: str, **kwargs: object) -> verify.VerificationResult:
    return verify.verify(db_session=world.db_session, settings=world.settings,
                         licence_jws=token, **kwargs)  # type: ignore[arg-type]


def _with_payload(token: str, payload: dict[str, object]) -> str:
    head, _body, sig = token.split(".")
    return f"{head}.{signing.b64url(signing.canonical(payload))}.{sig}"


def test_loading_the_licence_types_twice_changes_nothing(world: World) -> None:
    assert service.load_licence_types(db_session=world.db_session) == 0
    names = {t.name for t in service.list_types(db_session=world.db_session)}
    assert {"营业执照", "居住证", "社会保障卡", "机动车驾驶证", "出生医学证明",
            "住房公积金缴存证明", "居民身份证"} <= names
    assert _count(world, LicenceType) == len(names)


def test_an_issued_licence_verifies_with_every_check_named(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    ident = parse_identifier(licence.identifier)
    assert ident.type_code == BUSINESS_LICENCE
    assert ident.issuer_code == world.market.credit_code
    assert ident.version == "001"
    result = _verify_jws(world, licence.jws)
    assert result.outcome == "valid", result.failures
    assert result.signature_valid and result.issuer_trusted
    assert result.status == "01" and result.validity == "current"
    assert result.issuer == {"name": world.market.name, "credit_code": world.market.credit_code}
    assert result.document is not None
    assert result.document["holder"] == {"kind": "enterprise", "name": world.enterprise.name,
                                         "credit_code": world.enterprise.credit_code}


def test_issuing_records_history_audit_and_a_ledger_act(world: World) -> None:
    licence = world.issue_residence()
    world.db_session.commit()
    acts = world.db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.topic == "ledger", OutboxMessage.kind == "licence.issued")).all()
    assert [a.payload["identifier"] for a in acts] == [licence.identifier]
    assert "李春熙" not in str(acts[0].payload)  # the public log carries no personal data
    assert world.db_session.scalar(select(AuditEntry).where(
        AuditEntry.action == "licence.issued", AuditEntry.entity_id == str(licence.id)))
    assert [h.to_status for h in service.history(db_session=world.db_session,
                                                 licence_id=licence.id)] == ["01"]


def test_a_person_holder_is_named_masked_with_a_keyed_hash_reference(world: World) -> None:
    licence = world.issue_residence()
    holder = licence.document["holder"]
    assert holder["id_masked"] == world.person.id_number_masked
    assert holder["id_ref"] == world.person.id_number_hash
    assert "*" in holder["id_masked"]
    # 居住证: one year by the type's rule
    assert licence.valid_until == licence.valid_from.replace(
        year=licence.valid_from.year + 1) - timedelta(days=1)


@pytest.mark.parametrize(("changes", "field"), [
    ({"gender": "未知"}, "fields.gender"),
    ({"birth_date": "1990-13-40"}, "fields.birth_date"),
    ({"nickname": "x"}, "fields"),
])
def test_fields_that_break_the_type_schema_are_refused_and_nothing_is_written(
        world: World, changes: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        world.issue_residence(fields=world.residence_fields(**changes))
    assert field in [d["field"] for d in caught.value.details]
    world.db_session.rollback()
    assert _count(world, Licence) == 0
    assert _count(world, OutboxMessage) == 0


def test_a_missing_field_is_named(world: World) -> None:
    fields = world.residence_fields()
    del fields["residence_address"]
    with pytest.raises(InvalidInput) as caught:
        world.issue_residence(fields=fields)
    assert "residence_address" in caught.value.details[0]["message"]


def test_a_licence_for_the_wrong_kind_of_holder_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.issue(db_session=world.db_session, settings=world.settings,
                      licence_type_code=BUSINESS_LICENCE, holder_person_id=world.person.id,
                      fields=world.business_fields(), issuer_department_id=world.market.id,
                      valid_from=date.today())
    assert caught.value.details["field"] == "holder"


def test_a_reference_type_is_not_issued_here(world: World) -> None:
    with pytest.raises(InvalidInput):
        service.issue(db_session=world.db_session, settings=world.settings,
                      licence_type_code="居民身份证", holder_person_id=world.person.id,
                      fields={"name": "x", "gender": "女", "ethnicity": "汉",
                              "birth_date": "1990-05-17", "address": "x",
                              "issuing_authority": "x"},
                      issuer_department_id=world.police.id, valid_from=date.today())


def test_serials_count_up_and_status_positions_are_distinct(world: World) -> None:
    licences = [world.issue_residence() for _ in range(6)]
    serials = [parse_identifier(lic.identifier).serial for lic in licences]
    assert serials == sorted(serials) and len(set(serials)) == 6
    positions = [lic.status_idx for lic in licences]
    assert len(set(positions)) == 6
    assert positions != sorted(positions) or max(positions) > 1000  # drawn, not counted


def test_a_changed_field_is_reported_as_tampered_with_its_name(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    forged = dict(licence.document, fields={**licence.document["fields"],
                                             "registered_capital": "壹亿元整"})
    result = _verify_jws(world, _with_payload(licence.jws, forged))
    assert result.outcome == "tampered"
    assert result.signature_valid is False
    assert result.changed_fields == ["fields.registered_capital"]


def test_a_document_shown_beside_a_valid_jws_must_match_it(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    shown = dict(licence.document, validity={"from": "2000-01-01", "until": None})
    result = _verify_jws(world, licence.jws, document=shown)
    assert result.outcome == "tampered"
    assert result.signature_valid is True
    assert result.changed_fields == ["validity.from"]


def test_a_changed_signature_is_a_bad_signature(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    head, body, sig = licence.jws.split(".")
    raw = bytearray(signing.b64url_decode(sig))
    raw[0] ^= 0x01
    result = _verify_jws(world, f"{head}.{body}.{signing.b64url(bytes(raw))}")
    assert result.outcome == "bad_signature"
    assert result.changed_fields == []


def test_a_licence_signed_by_a_key_not_on_the_trust_list_has_an_unknown_issuer(
        world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    rogue = signing.sign(licence.document, key=Ed25519PrivateKey.generate(), kid="rogue",
                         typ=service.LICENCE_TYP)
    result = _verify_jws(world, rogue)
    assert result.outcome == "unknown_issuer"
    assert result.issuer_trusted is False


def test_a_trusted_key_cannot_sign_for_another_issuer(world: World) -> None:
    world.issue_residence()  # gives the police its key
    licence = world.issue_business()
    world.db_session.commit()
    police_key = keys.current_key(db_session=world.db_session, settings=world.settings,
                                  department_id=world.police.id, purpose=KeyPurpose.jws)
    forged = signing.sign(licence.document, kid=police_key.kid, typ=service.LICENCE_TYP,
                          key=keys.signing_key(settings=world.settings, key=police_key))
    result = _verify_jws(world, forged)
    assert result.signature_valid is True
    assert result.outcome == "unknown_issuer"


def test_revocation_shows_after_the_status_list_is_refreshed(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    verifier = verify.local_verifier(db_session=world.db_session, settings=world.settings)
    assert verifier.check(licence.jws).outcome == "valid"
    service.change_status(db_session=world.db_session, identifier=licence.identifier,
                          status="07", reason="以欺骗手段取得登记,依法吊销",
                          actor=world.staff("supervisor", region="510000"))
    world.db_session.commit()
    assert verifier.check(licence.jws).outcome == "valid"  # the cached list is still fresh
    verifier.refresh()
    result = verifier.check(licence.jws)
    assert result.outcome == "revoked" and result.status == "07"
    assert _verify_jws(world, licence.jws).outcome == "revoked"


def test_a_cached_status_list_expires_after_its_ttl(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    clock = [datetime.now(UTC)]
    verifier = verify.local_verifier(db_session=world.db_session, settings=world.settings,
                                     now=lambda: clock[0])
    assert verifier.check(licence.jws).outcome == "valid"
    service.change_status(db_session=world.db_session, identifier=licence.identifier,
                          status="02", reason="涉嫌违法经营,暂扣待查",
                          actor=world.staff("reviewer", department=world.market))
    clock[0] += timedelta(seconds=61)
    assert verifier.check(licence.jws).outcome == "suspended"


@pytest.mark.parametrize(("start", "end", "outcome"), [
    (-400, -1, "expired"),
    (1, None, "not_yet_valid"),
    (-10, 0, "valid"),
])
def test_validity_period(world: World, start: int, end: int | None, outcome: str) -> None:
    today = service.today_in_china()
    licence = world.issue_business(
        valid_from=today + timedelta(days=start),
        valid_until=None if end is None else today + timedelta(days=end))
    world.db_session.commit()
    assert _verify_jws(world, licence.jws).outcome == outcome


def test_valid_until_before_valid_from_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput):
        world.issue_business(valid_from=date(2026, 1, 2), valid_until=date(2026, 1, 1))


def test_verify_by_identifier_by_qr_payload_and_their_failures(world: World) -> None:
    licence = world.issue_residence()
    world.db_session.commit()
    by_id = verify.verify(db_session=world.db_session, settings=world.settings,
                          identifier=licence.identifier)
    assert by_id.outcome == "valid"
    qr = service.verification_url(world.settings, licence.identifier)
    assert verify.verify(db_session=world.db_session, settings=world.settings,
                         qr_payload=qr).outcome == "valid"
    wrong_check = licence.identifier[:-1] + ("0" if licence.identifier[-1] != "0" else "1")
    assert verify.verify(db_session=world.db_session, settings=world.settings,
                         identifier=wrong_check).outcome == "malformed_identifier"
    ident = parse_identifier(licence.identifier)
    other = make_identifier(type_code=ident.type_code, issuer_code=ident.issuer_code,
                            serial="99999999", version=9)
    assert verify.verify(db_session=world.db_session, settings=world.settings,
                         identifier=str(other)).outcome == "not_found"
    assert verify.verify(db_session=world.db_session, settings=world.settings,
                         licence_jws="garbage").outcome == "malformed"
    with pytest.raises(InvalidInput):
        verify.verify(db_session=world.db_session, settings=world.settings)


def test_a_status_change_without_a_reason_writes_nothing(world: World) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    before = (_count(world, AuditEntry), _count(world, OutboxMessage))
    with pytest.raises(InvalidInput) as caught:
        service.change_status(db_session=world.db_session, identifier=licence.identifier,
                              status="02", reason="   ",
                              actor=world.staff("reviewer", department=world.market))
    assert caught.value.details == {"field": "reason"}
    world.db_session.rollback()
    assert (_count(world, AuditEntry), _count(world, OutboxMessage)) == before
    assert _count(world, LicenceStatusChange) == 1
    assert world.db_session.get(Licence, licence.id).status == "01"  # type: ignore[union-attr]


@pytest.mark.parametrize(("roles", "region", "status", "error"), [
    (("applicant",), "510104", "03", Forbidden),  # not staff
    (("clerk",), "510104", "02", Forbidden),  # a clerk may not suspend
    (("reviewer",), "510104", "07", Forbidden),  # 吊销 is a supervisor's penalty
    (("reviewer",), "110000", "02", Forbidden),  # Beijing's reviewer: outside the scope
    (("supervisor",), "510000", "09", InvalidInput),  # no such status
    (("supervisor",), "510000", "01", Conflict),  # already valid
])
def test_status_changes_by_the_wrong_role_or_scope_write_nothing(
        world: World, roles: tuple[str, ...], region: str, status: str,
        error: type[Exception]) -> None:
    licence = world.issue_business()
    world.db_session.commit()
    before = (_count(world, AuditEntry), _count(world, OutboxMessage))
    with pytest.raises(error):
        service.change_status(db_session=world.db_session, identifier=licence.identifier,
                              status=status, reason="依法处理", actor=world.staff(*roles,
                                                                              region=region))
    world.db_session.rollback()
    assert (_count(world, AuditEntry), _count(world, OutboxMessage)) == before


def test_suspension_can_be_lifted_but_a_final_status_cannot_be_left(world: World) -> None:
    licence = world.issue_business()
    reviewer = world.staff("reviewer", department=world.market)
    for status, reason in [("02", "暂扣待查"), ("01", "查无违法,恢复"), ("04", "企业申请注销")]:
        service.change_status(db_session=world.db_session, identifier=licence.identifier,
                              status=status, reason=reason, actor=reviewer)
    with pytest.raises(Conflict):
        service.change_status(db_session=world.db_session, identifier=licence.identifier,
                              status="01", reason="恢复", actor=reviewer)
    changes = service.history(db_session=world.db_session, licence_id=licence.id)
    assert [(c.from_status, c.to_status) for c in changes] == [
        (None, "01"), ("01", "02"), ("02", "01"), ("01", "04")]
    kinds = world.db_session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.seq))
    assert list(kinds) == ["licence.issued"] + ["licence.status_changed"] * 3
    assert _verify_jws(world, licence.jws).outcome == "cancelled"


def test_a_rotated_key_keeps_earlier_licences_valid(world: World) -> None:
    before = world.issue_business()
    old_kid = before.kid
    new = keys.rotate_key(db_session=world.db_session, settings=world.settings,
                          department_id=world.market.id, purpose=KeyPurpose.jws,
                          actor=world.staff("operator"))
    # another company's 营业执照 (a company holds one at a time: a second would replace it)
    other = identity.create_enterprise(
        db_session=world.db_session, actor=SYSTEM_ACTOR, name="成都锦城会展服务有限公司",
        credit_code=make_uscc("9", "1", "510104", "MA6CXY34"), region_code="510104")
    after = service.issue(
        db_session=world.db_session, settings=world.settings,
        licence_type_code=BUSINESS_LICENCE, holder_enterprise_id=other.id,
        fields=world.business_fields(credit_code=other.credit_code, name=other.name),
        issuer_department_id=world.market.id, valid_from=date.today())
    world.db_session.commit()
    assert after.kid == new.kid != old_kid
    assert _verify_jws(world, before.jws).outcome == "valid"
    assert _verify_jws(world, after.jws).outcome == "valid"


def test_private_keys_are_stored_sealed(world: World) -> None:
    licence = world.issue_business()
    key = keys.current_key(db_session=world.db_session, settings=world.settings,
                           department_id=world.market.id, purpose=KeyPurpose.jws)
    assert key.kid == licence.kid
    assert b"PRIVATE KEY" not in key.private_key_enc
    assert b"PRIVATE KEY" in keys.private_pem(settings=world.settings, key=key)


def test_the_trust_list_is_signed_by_the_node_and_names_each_issuer(world: World) -> None:
    world.issue_business()
    world.issue_residence()
    token = keys.trust_list_token(db_session=world.db_session, settings=world.settings)
    parsed = signing.parse(token)
    node = keys.node_key(world.settings)
    assert parsed.kid == keys.node_kid(world.settings)
    assert parsed.verify(node.private_key.public_key())
    codes = {i["credit_code"] for i in parsed.payload["issuers"]}
    assert codes == {world.market.credit_code, world.police.credit_code}


def test_find_valid_licence_for_no_submit_handling(world: World) -> None:
    assert service.find_valid_licence(db_session=world.db_session,
                                      holder_person_id=world.person.id,
                                      licence_type_code=RESIDENCE_PERMIT) is None
    licence = world.issue_residence()
    found = service.find_valid_licence(db_session=world.db_session,
                                       holder_person_id=world.person.id,
                                       licence_type_code="居住证")
    assert found is not None and found.id == licence.id
    service.change_status(db_session=world.db_session, identifier=licence.identifier,
                          status="03", reason="申请材料虚假,撤销",
                          actor=world.staff("supervisor", region="510000"))
    assert service.find_valid_licence(db_session=world.db_session,
                                      holder_person_id=world.person.id,
                                      licence_type_code=RESIDENCE_PERMIT) is None
    with pytest.raises(NotFound):
        service.find_valid_licence(db_session=world.db_session,
                                   holder_person_id=world.person.id, licence_type_code="护照")


def test_holders_see_their_own_licences_and_outsiders_do_not(world: World) -> None:
    licence = world.issue_residence()
    world.issue_business()
    mine = service.list_mine(db_session=world.db_session, actor=world.holder)
    assert [lic.identifier for lic in mine] == [licence.identifier]
    assert service.view_licence(db_session=world.db_session, actor=world.holder,
                                identifier=licence.identifier).id == licence.id
    with pytest.raises(Forbidden):
        service.view_licence(db_session=world.db_session, actor=world.staff(
            "reviewer", region="110000"), identifier=licence.identifier)
    with pytest.raises(InvalidInput):
        service.view_licence(db_session=world.db_session, actor=world.holder,
                             identifier="1.2.156.3005.2.bad")


def _guide_version(world: World, result: dict[str, object]) -> uuid.UUID:
    item = ServiceItem(basic_code="000117001000", name="企业设立登记", item_type="行政许可")
    world.db_session.add(item)
    world.db_session.flush()
    impl = Implementation(
        implementation_code=f"{world.market.credit_code}4000117001000", item_id=item.id,
        department_id=world.market.id, region_code="510104")
    world.db_session.add(impl)
    world.db_session.flush()
    version = ImplementationVersion(
        implementation_id=impl.id, version=1, name="企业设立登记", guide={"result": result},
        form_schema={}, legal_days=15, promised_days=3)
    world.db_session.add(version)
    world.db_session.flush()
    return version.id


def _case(world: World, version_id: uuid.UUID, form: dict[str, object]) -> SimpleNamespace:
    return SimpleNamespace(
        id=uuid.uuid4(), item_code="000117001000", department_id=world.market.id,
        applicant_person_id=None, applicant_enterprise_id=world.enterprise.id,
        implementation_version_id=version_id, form_data=form)


def test_an_approved_case_issues_the_licence_its_guide_promises(world: World) -> None:
    version_id = _guide_version(world, {"name": "营业执照", "kind": "licence",
                                        "licence_type": BUSINESS_LICENCE})
    form = world.business_fields()
    del form["name"], form["credit_code"]  # the holder's record gives these
    case = _case(world, version_id, {**form, "contact_phone": "13800000000"})
    licence = service.issue_for_approved_case(db_session=world.db_session,
                                              settings=world.settings, case=case)
    assert licence is not None
    assert licence.case_id == case.id
    assert licence.fields["name"] == world.enterprise.name
    assert "contact_phone" not in licence.fields
    assert _verify_jws(world, licence.jws).outcome == "valid"


def test_a_case_whose_guide_promises_no_licence_issues_none(world: World) -> None:
    version_id = _guide_version(world, {"name": "备案回执", "kind": "document"})
    assert service.issue_for_approved_case(
        db_session=world.db_session, settings=world.settings,
        case=_case(world, version_id, {})) is None
    assert _count(world, Licence) == 0


def test_a_case_form_missing_licence_fields_is_refused(world: World) -> None:
    version_id = _guide_version(world, {"name": "营业执照", "kind": "licence",
                                        "licence_type": "营业执照"})
    with pytest.raises(InvalidInput) as caught:
        service.issue_for_approved_case(db_session=world.db_session, settings=world.settings,
                                        case=_case(world, version_id, {"domicile": "成都"}))
    assert any("business_scope" in d["message"] for d in caught.value.details)
