"""Verification of e-licences: signature, trusted issuer, status, validity period.

A `Verifier` works only from signed artefacts, the way a verifier in another region
would: the trust list (signed by a node key it trusts) says which department keys may
sign licences, and the Status List Token (signed by the node) says each licence's status.
It caches both: the trust list until it expires, a status list for its `ttl`, so a status
change shows after one refresh. `verify()` builds a fresh local verifier per call (the
node is the authority for its own licences); benchmarks and peers keep one and refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import InvalidInput
from tongban.licences import keys, service, signing
from tongban.licences import status_list as sl
from tongban.licences.identifiers import IdentifierFormatError, parse_identifier
from tongban.licences.models import STATUS_NAMES


class Outcome(StrEnum):
    valid = "valid"
    malformed = "malformed"  # not a JWS / not a licence document
    malformed_identifier = "malformed_identifier"
    not_found = "not_found"
    unknown_issuer = "unknown_issuer"
    bad_signature = "bad_signature"
    tampered = "tampered"
    status_unavailable = "status_unavailable"
    suspended = "suspended"  # 02 暂扣
    annulled = "annulled"  # 03 撤销
    cancelled = "cancelled"  # 04 注销
    lapsed = "lapsed"  # 05 失效
    replaced = "replaced"  # 05 失效 by 补领/换领: a newer licence replaced it
    revoked = "revoked"  # 07 吊销
    expired = "expired"
    not_yet_valid = "not_yet_valid"


STATUS_OUTCOMES = {"02": Outcome.suspended, "03": Outcome.annulled, "04": Outcome.cancelled,
                   "05": Outcome.lapsed, "07": Outcome.revoked}

MESSAGES: dict[str, str] = {
    Outcome.valid: "证照有效 / the licence is valid",
    Outcome.malformed: "不是有效的电子证照数据 / not a licence this node can read",
    Outcome.malformed_identifier: "证照标识格式或校验位错误 / malformed licence identifier",
    Outcome.not_found: "未找到该证照 / no such licence",
    Outcome.unknown_issuer: "签发机构不在信任列表中 / the issuer is not on the trust list",
    Outcome.bad_signature: "签名无效 / the signature is not valid",
    Outcome.tampered: "证照内容已被篡改 / the licence content was changed after signing",
    Outcome.status_unavailable: "无法获取证照状态 / the licence status is unavailable",
    Outcome.suspended: "证照已暂扣 / the licence is suspended",
    Outcome.annulled: "证照已撤销 / the licence was annulled",
    Outcome.cancelled: "证照已注销 / the licence was cancelled",
    Outcome.lapsed: "证照已失效 / the licence has lapsed",
    Outcome.replaced: "证照已被补领/换领的新证取代 / the licence was replaced by a newer one",
    Outcome.revoked: "证照已吊销 / the licence was revoked",
    Outcome.expired: "证照已过有效期 / the licence has expired",
    Outcome.not_yet_valid: "证照尚未生效 / the licence is not yet valid",
}


@dataclass
class VerificationResult:
    """Every check's answer; `outcome` is the first failure, or valid."""

    outcome: str
    identifier: str | None = None
    signature_valid: bool | None = None
    issuer_trusted: bool | None = None
    issuer: dict[str, Any] | None = None
    status: str | None = None
    validity: str | None = None  # current | expired | not_yet_valid
    valid_from: str | None = None
    valid_until: str | None = None
    failures: list[str] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)
    document: dict[str, Any] | None = None
    replaced_by: str | None = None  # the successor's identifier (补领/换领)

    @property
    def valid(self) -> bool:
        return self.outcome == Outcome.valid

    @property
    def message(self) -> str:
        return MESSAGES[self.outcome]

    @property
    def status_name(self) -> str | None:
        return STATUS_NAMES.get(self.status or "")


def without_holder(result: VerificationResult) -> VerificationResult:
    """What anyone may learn from an identifier alone: valid or not, why, the status and
    the validity period; never the holder or the fields. Those come only with the signed
    licence the holder presents (its JWS): identifiers are sequential, so answering them
    with the document let anyone enumerate every holder. The changed fields of a shown
    document are dropped too (they would tell a guessed field's value)."""
    return replace(result, document=None, changed_fields=[])


def _fail(result: VerificationResult, outcome: Outcome) -> VerificationResult:
    result.failures.append(outcome)
    if result.outcome == Outcome.valid:
        result.outcome = outcome
    return result


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}


def changed_fields(signed: Mapping[str, Any], shown: Mapping[str, Any]) -> list[str]:
    """The dotted paths whose values differ between the signed and the shown document."""
    a, b = _flatten(signed), _flatten(shown)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, ...) != b.get(k, ...))


@dataclass
class _CachedStatus:
    raw: bytes
    bits: int
    until: datetime


class Verifier:
    """Checks licences against a signed trust list and signed status lists, cached."""

    def __init__(self, *, node_keys: Mapping[str, Ed25519PublicKey],
                 fetch_trust_list: Callable[[], str],
                 fetch_status_list: Callable[[str], str | None],
                 now: Callable[[], datetime] = utcnow) -> None:
        self._node_keys = dict(node_keys)
        self._fetch_trust_list = fetch_trust_list
        self._fetch_status_list = fetch_status_list
        self._now = now
        self._trust: tuple[dict[str, keys.TrustedKey], datetime] | None = None
        self._status: dict[str, _CachedStatus] = {}
        self._public: dict[str, Ed25519PublicKey] = {}

    def refresh(self) -> None:
        """Forget cached trust and status lists; the next check fetches them again."""
        self._trust, self._status, self._public = None, {}, {}

    def _node_signed(self, token: str, typ: str) -> dict[str, Any]:
        jws = signing.parse(token)
        key = self._node_keys.get(jws.kid)
        if jws.header.get("typ") != typ or key is None or not jws.verify(key):
            raise ValueError(f"{typ} is not signed by a trusted node")
        if int(jws.payload.get("exp", 0)) <= self._now().timestamp():
            raise ValueError(f"{typ} has expired")
        return jws.payload

    def trusted_keys(self) -> dict[str, keys.TrustedKey]:
        """Department keys from the trust list (fetched again when it expires)."""
        now = self._now()
        if self._trust is None or self._trust[1] <= now:
            claims = self._node_signed(self._fetch_trust_list(), keys.TRUST_LIST_TYP)
            self._trust = (keys.trusted_keys(claims),
                           datetime.fromtimestamp(int(claims["exp"]), UTC))
            self._public = {}
        return self._trust[0]

    def _public_key(self, trusted: keys.TrustedKey) -> Ed25519PublicKey:
        key = self._public.get(trusted.kid)
        if key is None:
            key = self._public[trusted.kid] = signing.public_key_from_x(trusted.x)
        return key

    def status_at(self, uri: str, idx: int) -> str | None:
        """The status code at `idx` of the list at `uri`; None if it cannot be had."""
        now = self._now()
        cached = self._status.get(uri)
        if cached is None or cached.until <= now:
            token = self._fetch_status_list(uri)
            if token is None:
                return None
            try:
                claims = self._node_signed(token, sl.TOKEN_TYP)
                if claims.get("sub") != uri:
                    return None
                raw, bits = sl.decode(claims["status_list"])
            except (ValueError, KeyError):
                return None
            ttl = timedelta(seconds=int(claims.get("ttl", sl.TTL_SECONDS)))
            cached = self._status[uri] = _CachedStatus(raw, bits, now + ttl)
        try:
            value = sl.value_at(cached.raw, idx, bits=cached.bits)
        except sl.StatusListError:
            return None
        return sl.VALUE_STATUSES.get(value, "05" if value else "01")

    def check(self, token: str, *, shown: Mapping[str, Any] | None = None,
              stored: Mapping[str, Any] | None = None) -> VerificationResult:
        """Verify a licence JWS; `shown` is the document presented with it (if any),
        `stored` the issuing node's copy (to tell a changed field from a bad signature)."""
        result = VerificationResult(outcome=Outcome.valid)
        try:
            jws = signing.parse(token)
        except signing.JwsFormatError:
            return _fail(result, Outcome.malformed)
        doc = jws.payload
        result.identifier = str(doc.get("identifier", "")) or None
        if not self._check_signature(result, jws, stored):
            return result
        result.document = doc
        if shown is not None and signing.canonical(dict(shown)) != jws.payload_bytes:
            result.changed_fields = changed_fields(doc, shown)
            _fail(result, Outcome.tampered)
        self._check_identifier(result, doc)
        self._check_status(result, doc)
        self._check_validity(result, doc)
        return result

    def _check_signature(self, result: VerificationResult, jws: signing.Jws,
                         stored: Mapping[str, Any] | None) -> bool:
        trusted = self.trusted_keys().get(jws.kid)
        if trusted is None:
            _fail(result, Outcome.unknown_issuer)
            result.issuer_trusted = False
            return False
        result.signature_valid = jws.verify(self._public_key(trusted))
        if not result.signature_valid:
            if stored is not None and signing.canonical(dict(stored)) != jws.payload_bytes:
                result.changed_fields = changed_fields(stored, jws.payload)
                _fail(result, Outcome.tampered)
            else:
                _fail(result, Outcome.bad_signature)
            return False
        issuer = jws.payload.get("issuer") or {}
        result.issuer = {"name": trusted.issuer_name, "credit_code": trusted.credit_code}
        signed_at = _parse_instant(jws.payload.get("signed_at"))
        result.issuer_trusted = (
            isinstance(issuer, dict) and issuer.get("credit_code") == trusted.credit_code
            and signed_at is not None
            and (trusted.not_before is None or signed_at >= trusted.not_before)
            and (trusted.not_after is None or signed_at <= trusted.not_after))
        if not result.issuer_trusted:
            _fail(result, Outcome.unknown_issuer)
        return True

    def _check_identifier(self, result: VerificationResult, doc: Mapping[str, Any]) -> None:
        try:
            ident = parse_identifier(str(doc.get("identifier", "")))
        except IdentifierFormatError:
            _fail(result, Outcome.malformed_identifier)
            return
        if ident.issuer_code != (doc.get("issuer") or {}).get("credit_code"):
            _fail(result, Outcome.malformed_identifier)

    def _check_status(self, result: VerificationResult, doc: Mapping[str, Any]) -> None:
        ref = ((doc.get("status") or {}).get("status_list")) or {}
        uri, idx = ref.get("uri"), ref.get("idx")
        status = (self.status_at(uri, idx) if isinstance(uri, str) and isinstance(idx, int)
                  else None)
        result.status = status
        if status is None:
            _fail(result, Outcome.status_unavailable)
        elif status in STATUS_OUTCOMES:
            _fail(result, STATUS_OUTCOMES[status])

    def _check_validity(self, result: VerificationResult, doc: Mapping[str, Any]) -> None:
        validity = doc.get("validity") or {}
        result.valid_from, result.valid_until = validity.get("from"), validity.get("until")
        today = service.today_in_china(self._now())
        try:
            start = date.fromisoformat(str(result.valid_from))
            end = date.fromisoformat(result.valid_until) if result.valid_until else None
        except ValueError:
            _fail(result, Outcome.malformed)
            return
        if today < start:
            result.validity = "not_yet_valid"
            _fail(result, Outcome.not_yet_valid)
        elif end is not None and today > end:
            result.validity = "expired"
            _fail(result, Outcome.expired)
        else:
            result.validity = "current"


def _parse_instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def local_verifier(*, db_session: Session, settings: Settings,
                   now: Callable[[], datetime] = utcnow) -> Verifier:
    """A verifier that trusts this node's key and reads this node's lists."""
    node = keys.node_key(settings)

    def fetch_status(uri: str) -> str | None:
        list_id = service.list_id_from_uri(uri)
        if list_id is None or not uri.startswith(service.public_url(settings)):
            return None
        try:
            return service.status_list_token(db_session=db_session, settings=settings,
                                             list_id=list_id, now=now())
        except Exception:  # an unknown list is "status unavailable", not an error
            return None

    return Verifier(
        node_keys={keys.node_kid(settings): node.private_key.public_key()},
        fetch_trust_list=lambda: keys.trust_list_token(db_session=db_session,
                                                       settings=settings, now=now()),
        fetch_status_list=fetch_status, now=now)


def identifier_from_qr(payload: str) -> str:
    """The identifier in a QR payload (the verification URL), or the payload itself."""
    text = payload.strip()
    if text.startswith(("http://", "https://")):
        values = parse_qs(urlsplit(text).query).get("identifier", [])
        return values[0] if values else ""
    return text


def verify(*, db_session: Session, settings: Settings, licence_jws: str | None = None,
           identifier: str | None = None, qr_payload: str | None = None,
           document: Mapping[str, Any] | None = None,
           verifier: Verifier | None = None) -> VerificationResult:
    """Verify a licence given as its JWS (optionally with the document shown beside it),
    its identifier, or its QR payload; every failure is named in the result."""
    given = [v for v in (licence_jws, identifier, qr_payload) if v is not None]
    if len(given) != 1:
        raise InvalidInput("请提供证照 JWS、证照标识或二维码内容之一 / give exactly one of "
                           "licence_jws, identifier, qr_payload", details={"field": "licence"})
    verifier = verifier or local_verifier(db_session=db_session, settings=settings)
    if licence_jws is None:
        wanted = identifier if identifier is not None else identifier_from_qr(qr_payload or "")
        try:
            parse_identifier(wanted)
        except IdentifierFormatError:
            return _fail(VerificationResult(outcome=Outcome.valid, identifier=wanted),
                         Outcome.malformed_identifier)
        licence = service.find_by_identifier(db_session=db_session, identifier=wanted)
        if licence is None:
            return _fail(VerificationResult(outcome=Outcome.valid, identifier=wanted),
                         Outcome.not_found)
        return _replacement(verifier.check(licence.jws, shown=document,
                                           stored=licence.document), licence.replaced_by)
    found = None
    try:
        claimed = signing.parse(licence_jws).payload.get("identifier")
    except signing.JwsFormatError:
        claimed = None
    if isinstance(claimed, str):
        found = service.find_by_identifier(db_session=db_session, identifier=claimed)
    result = verifier.check(licence_jws, shown=document,
                            stored=found.document if found is not None else None)
    return _replacement(result, found.replaced_by if found is not None else None)


def _replacement(result: VerificationResult, replaced_by: str | None) -> VerificationResult:
    """A licence that lapsed because a newer one replaced it says so, and names it (the
    issuing node knows; a status list alone says only 失效)."""
    if replaced_by is not None and result.outcome == Outcome.lapsed:
        result.outcome = Outcome.replaced
        result.failures = [Outcome.replaced if f == Outcome.lapsed else f
                           for f in result.failures]
        result.replaced_by = replaced_by
    return result
