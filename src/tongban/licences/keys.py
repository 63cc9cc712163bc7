"""Department signing keys (rotatable, sealed at rest) and the node's signed trust list.

Each issuing department has its own keys: an Ed25519 key that signs licence JSON (JWS)
and an ECDSA P-256 key with a self-signed X.509 certificate that seals licence PDFs
(PAdES; P-256 because every PDF reader validates it). Private keys are stored sealed with
the node data key (identity.crypto, AES-256-GCM). Rotation retires the current key: it
stays on the trust list, valid for licences issued before its retirement.

The node key signs only the trust list: the node's issuers, their credit codes and public
keys with the period each key could sign in. Verifiers trust an issuer because it is on a
trust list signed by a node they trust, never because a licence says so.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog.models import Department
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import NotFound
from tongban.identity import crypto
from tongban.identity.actor import SYSTEM_ACTOR, Actor
from tongban.licences import signing
from tongban.licences.models import DepartmentKey, KeyPurpose
from tongban.node import keys as node_keys

SEALED_COLUMN = "licences_department_keys.private_key_enc"
TRUST_LIST_TYP = "trustlist+jwt"
TRUST_LIST_LIFETIME = timedelta(hours=24)
CERT_YEARS = 10


def get_department(*, db_session: Session, department_id: uuid.UUID) -> Department:
    """The issuing department (catalog), or NotFound."""
    department = db_session.get(Department, department_id)
    if department is None:
        raise NotFound("未找到该部门 / no such department",
                       details={"department_id": str(department_id)})
    return department


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def jwk_thumbprint(x: str) -> str:
    """RFC 7638 thumbprint of an Ed25519 JWK: the kid of a department JWS key."""
    return signing.b64url(hashlib.sha256(
        signing.canonical({"crv": "Ed25519", "kty": "OKP", "x": x})).digest())


def _self_signed(department: Department, key: ec.EllipticCurvePrivateKey,
                 now: datetime) -> x509.Certificate:
    """A self-signed seal certificate naming the department and its credit code."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, department.name),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{department.credit_code}"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{department.name} 电子印章"),
    ])
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CERT_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )


def _new_key(settings: Settings, department: Department, purpose: KeyPurpose
             ) -> DepartmentKey:
    now = utcnow()
    if purpose == KeyPurpose.jws:
        ed_key = Ed25519PrivateKey.generate()
        x = signing.public_key_x(ed_key.public_key())
        kid, public, pem = jwk_thumbprint(x), x, _pem(ed_key)
    else:
        ec_key = ec.generate_private_key(ec.SECP256R1())
        cert = _self_signed(department, ec_key, now)
        der = cert.public_bytes(serialization.Encoding.DER)
        kid = "x509:" + hashlib.sha256(der).hexdigest()[:40]
        public = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        pem = _pem(ec_key)
    return DepartmentKey(
        department_id=department.id, kid=kid, purpose=purpose, public_key=public,
        private_key_enc=crypto.encrypt(settings=settings, value=pem, column=SEALED_COLUMN),
        created_at=now,
    )


def current_key(*, db_session: Session, settings: Settings, department_id: uuid.UUID,
                purpose: KeyPurpose, actor: Actor = SYSTEM_ACTOR) -> DepartmentKey:
    """The department's unretired key for `purpose`, made on first use."""
    stmt = (select(DepartmentKey)
            .where(DepartmentKey.department_id == department_id,
                   DepartmentKey.purpose == purpose, DepartmentKey.retired_at.is_(None))
            .order_by(DepartmentKey.created_at.desc()))
    key = db_session.scalars(stmt).first()
    if key is None:
        department = get_department(db_session=db_session, department_id=department_id)
        key = _new_key(settings, department, purpose)
        db_session.add(key)
        db_session.flush()
        audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
              action="licence_key.create", entity="department", entity_id=str(department_id),
              details={"kid": key.kid, "purpose": str(purpose)})
    return key


def rotate_key(*, db_session: Session, settings: Settings, department_id: uuid.UUID,
               purpose: KeyPurpose, actor: Actor) -> DepartmentKey:
    """Retire the current key and make a new one; old licences stay verifiable."""
    old = current_key(db_session=db_session, settings=settings, department_id=department_id,
                      purpose=purpose, actor=actor)
    old.retired_at = utcnow()
    db_session.flush()
    new = current_key(db_session=db_session, settings=settings, department_id=department_id,
                      purpose=purpose, actor=actor)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="licence_key.rotate", entity="department", entity_id=str(department_id),
          details={"retired": old.kid, "new": new.kid, "purpose": str(purpose)})
    return new


def private_pem(*, settings: Settings, key: DepartmentKey) -> bytes:
    """The unsealed PKCS#8 PEM of a department key."""
    return crypto.decrypt(settings=settings, blob=key.private_key_enc,
                          column=SEALED_COLUMN).encode("ascii")


def signing_key(*, settings: Settings, key: DepartmentKey) -> Ed25519PrivateKey:
    """The Ed25519 private key of a department JWS key."""
    loaded = serialization.load_pem_private_key(private_pem(settings=settings, key=key), None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"key {key.kid} is not Ed25519")
    return loaded


# --- the trust list -----------------------------------------------------------------


def node_key(settings: Settings) -> node_keys.NodeKey:
    """The node key in use (node.keys, from the node's key ring)."""
    return node_keys.node_key(settings)


def node_kid(settings: Settings) -> str:
    """The node key's JWS kid: its signed-note name and key id."""
    key = node_key(settings)
    return f"{key.name}+{key.key_id.hex()}"


def _iso(value: datetime | None, *, ceil: bool = False) -> str | None:
    """RFC 3339 in whole seconds (as licences state their signing time), rounded outward."""
    if value is None:
        return None
    whole = value.astimezone(UTC).replace(microsecond=0)
    if ceil and whole < value:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_entry(key: DepartmentKey) -> dict[str, Any]:
    entry: dict[str, Any] = {"kid": key.kid, "not_before": _iso(key.created_at),
                             "not_after": _iso(key.retired_at, ceil=True)}
    if key.purpose == KeyPurpose.jws:
        entry.update(kty="OKP", crv="Ed25519", x=key.public_key, use="sig")
    else:
        cert = x509.load_pem_x509_certificate(key.public_key.encode("ascii"))
        entry["x5c"] = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
    return entry


def trust_list_claims(*, db_session: Session, settings: Settings, now: datetime | None = None
                      ) -> dict[str, Any]:
    """The node's issuers and their keys, as the claims the node signs."""
    now = now or utcnow()
    rows = db_session.execute(
        select(DepartmentKey, Department)
        .join(Department, Department.id == DepartmentKey.department_id)
        .order_by(Department.credit_code, DepartmentKey.created_at)
    ).all()
    issuers: dict[uuid.UUID, dict[str, Any]] = {}
    for key, department in rows:
        issuer = issuers.setdefault(department.id, {
            "department_id": str(department.id), "name": department.name,
            "credit_code": department.credit_code, "region_code": department.region_code,
            "keys": [], "seal_certificates": [],
        })
        bucket = "keys" if key.purpose == KeyPurpose.jws else "seal_certificates"
        issuer[bucket].append(_key_entry(key))
    iat = int(now.timestamp())
    node = node_key(settings)
    return {
        "iss": node.name, "iat": iat, "exp": iat + int(TRUST_LIST_LIFETIME.total_seconds()),
        "node": {"name": settings.node_name, "region": settings.node_region,
                 "verifier_key": node.verifier_key},
        "issuers": list(issuers.values()),
    }


def trust_list_token(*, db_session: Session, settings: Settings, now: datetime | None = None
                     ) -> str:
    """The trust list as a JWS signed by the node key."""
    claims = trust_list_claims(db_session=db_session, settings=settings, now=now)
    return signing.sign(claims, key=node_key(settings).private_key, kid=node_kid(settings),
                        typ=TRUST_LIST_TYP)


@dataclass(frozen=True)
class TrustedKey:
    """A department key as a verified trust list states it."""

    kid: str
    x: str
    credit_code: str
    issuer_name: str
    not_before: datetime | None
    not_after: datetime | None


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def trusted_keys(claims: dict[str, Any]) -> dict[str, TrustedKey]:
    """kid -> TrustedKey from the claims of a verified trust list."""
    found: dict[str, TrustedKey] = {}
    for issuer in claims.get("issuers", []):
        for key in issuer.get("keys", []):
            found[key["kid"]] = TrustedKey(
                kid=key["kid"], x=key["x"], credit_code=issuer["credit_code"],
                issuer_name=issuer["name"], not_before=_parse_time(key.get("not_before")),
                not_after=_parse_time(key.get("not_after")),
            )
    return found
