"""Node identity, the signed federation registry, and anchors (X-Road's global
configuration and configuration anchor, reduced to what tongban needs).

The registry lists every node: region, endpoint, node key, trust-list URL and the
implementations it offers across regions. A registry authority (any node may be one for
a local federation) signs it with its own key, separate from its node key, and gives it a
short life; members pull it from the anchor's URL and refresh it well before it expires.
A node whose registry has expired sends and accepts nothing (it fails closed): a trust
decision is never made on stale data, only availability is lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.service import record as audit
from tongban.catalog import service as catalog
from tongban.config import Settings
from tongban.db import utcnow
from tongban.errors import Conflict, InvalidInput, NotFound
from tongban.federation import envelopes
from tongban.federation.envelopes import EnvelopeRejected
from tongban.federation.models import Anchor, LocalNode, Member, RegistryDocument
from tongban.identity.actor import SYSTEM_ACTOR, Actor, region_prefix
from tongban.licences import keys as licence_keys
from tongban.licences import signing
from tongban.node import keys as node_keys
from tongban.node.keyring import keyring

REGISTRY_TYP = "tongban-registry+jws"
ANCHOR_TYPE = "tongban-federation-anchor"
DESCRIPTOR_TYPE = "tongban-node-descriptor"
AUTHORITY_KEY_FILE = "federation_authority_ed25519.pem"
# X-Road's defaults: configuration valid 600 s, refreshed every 60 s.
REGISTRY_LIFETIME = timedelta(seconds=600)
REFRESH_EVERY = timedelta(seconds=60)
API = "/api/v1"


# --- this node ------------------------------------------------------------------------


def local_node(*, db_session: Session) -> LocalNode:
    """This node's federation identity, or NotFound until `federation init`."""
    node = db_session.get(LocalNode, 1)
    if node is None:
        raise NotFound("本节点尚未初始化联邦身份 / run `tongban federation init --endpoint URL` "
                       "first", code="not_initialised")
    return node


def init_node(*, db_session: Session, settings: Settings, endpoint: str,
              name: str | None = None, actor: Actor = SYSTEM_ACTOR) -> LocalNode:
    """Set this node's endpoint (and name); its region is the node's configured region."""
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint.startswith(("http://", "https://")) or len(endpoint) > 300:
        raise InvalidInput("端点须为 http(s) URL / the endpoint must be an http(s) URL",
                           details={"field": "endpoint", "value": endpoint})
    node = db_session.get(LocalNode, 1)
    if node is None:
        node = LocalNode(id=1, region_code=settings.node_region, name="", endpoint="")
        db_session.add(node)
    node.region_code = settings.node_region
    node.name = (name or settings.node_name).strip()[:100]
    node.endpoint = endpoint
    node.updated_at = utcnow()
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.init", entity="federation_node", entity_id=node.region_code,
          details={"endpoint": endpoint, "name": node.name})
    return node


def offered_codes(*, db_session: Session, region_code: str) -> list[str]:
    """Published implementations of this region whose guide offers a cross-region mode."""
    return [code for code, guide in catalog.published_guides(db_session=db_session,
                                                             region_code=region_code)
            if guide.get("cross_region_modes")]


def descriptor(*, db_session: Session, settings: Settings) -> dict[str, Any]:
    """What the authority needs to list this node: region, endpoint, key, offers."""
    node = local_node(db_session=db_session)
    key = licence_keys.node_key(settings)
    return {"type": DESCRIPTOR_TYPE, "region_code": node.region_code, "name": node.name,
            "endpoint": node.endpoint, "node_key": key.verifier_key,
            "trust_list_url": f"{node.endpoint}{API}/licences/trust-list",
            "offered": offered_codes(db_session=db_session, region_code=node.region_code)}


# --- the authority ----------------------------------------------------------------------


def _authority_key_path(settings: Settings) -> Path:
    return Path(settings.var_dir).resolve() / AUTHORITY_KEY_FILE


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # never overwrite an authority key
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


@lru_cache(maxsize=8)
def _load_authority_key(path: str) -> Ed25519PrivateKey:
    return node_keys.load_private_key(Path(path))


def authority_key(settings: Settings, *, create: bool = False) -> Ed25519PrivateKey:
    """The registry authority's signing key (only on the authority node): the key ring's
    (`tongban keys init --authority`); a development node may make one in var_dir."""
    ring = keyring(settings)
    if ring.authority is not None:
        return ring.authority
    path = _authority_key_path(settings)
    if not path.exists():
        if not create or settings.production:
            raise NotFound("本节点不是注册表签发机构 / this node is not a registry authority"
                           + (" (production: its key comes from the key file, "
                              "`tongban keys init --authority`)" if create else ""),
                           code="not_authority")
        _create_key(path)
    return _load_authority_key(str(path))


def authority_kid(instance: str, key: Ed25519PublicKey) -> str:
    name = f"tongban-registry/{instance}"
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{name}+{node_keys.key_id(name, raw).hex()}"


def _authority_anchor(db_session: Session) -> Anchor:
    anchor = db_session.scalars(select(Anchor)).first()
    if anchor is None:
        raise NotFound("未导入联邦锚点 / no federation anchor imported", code="no_anchor")
    return anchor


def become_authority(*, db_session: Session, settings: Settings, instance: str,
                     actor: Actor = SYSTEM_ACTOR, now: datetime | None = None
                     ) -> RegistryDocument:
    """Make this node the registry authority of `instance`: key, anchor, self as member,
    first registry version."""
    if not instance or len(instance) > 60 or not instance.replace("-", "").isalnum():
        raise InvalidInput("联邦名称无效 / instance names are letters, digits and '-'",
                           details={"field": "instance", "value": instance})
    node = local_node(db_session=db_session)
    key = authority_key(settings, create=True)
    existing = db_session.scalars(select(Anchor)).first()
    if existing is not None and existing.instance != instance:
        raise Conflict("本节点已属于另一联邦 / this node already belongs to another federation",
                       details={"instance": existing.instance})
    if existing is None:
        db_session.add(Anchor(
            instance=instance, registry_url=f"{node.endpoint}{API}/federation/registry",
            authority_kid=authority_kid(instance, key.public_key()),
            authority_x=signing.public_key_x(key.public_key())))
    add_member(db_session=db_session, document=descriptor(db_session=db_session,
                                                          settings=settings), actor=actor)
    return issue(db_session=db_session, settings=settings, actor=actor, now=now)


def add_member(*, db_session: Session, document: dict[str, Any],
               actor: Actor = SYSTEM_ACTOR) -> Member:
    """Authority: list (or update) a node from its descriptor."""
    if not isinstance(document, dict) or document.get("type") != DESCRIPTOR_TYPE:
        raise InvalidInput("不是节点描述文件 / not a node descriptor",
                           details={"field": "type", "expected": DESCRIPTOR_TYPE})
    try:
        region = str(document["region_code"])
        node_keys.parse_verifier_key(str(document["node_key"]))
        endpoint = str(document["endpoint"]).rstrip("/")
        offered = [str(c) for c in document.get("offered", [])]
    except (KeyError, ValueError) as exc:
        raise InvalidInput("节点描述文件字段有误 / the descriptor is malformed",
                           details={"reason": str(exc)}) from exc
    if len(region) != 6 or not region.isdigit():
        raise InvalidInput("区划代码无效 / invalid region code", details={"field": "region_code"})
    member = db_session.get(Member, region) or Member(region_code=region)
    member.name = str(document.get("name", region))[:100]
    member.endpoint = endpoint
    member.node_key = str(document["node_key"])
    member.trust_list_url = str(document.get("trust_list_url")
                                or f"{endpoint}{API}/licences/trust-list")
    member.offered = offered
    member.updated_at = utcnow()
    db_session.add(member)
    db_session.flush()
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.member_listed", entity="federation_member", entity_id=region,
          details={"endpoint": endpoint, "node_key": member.node_key, "offered": len(offered)})
    return member


def remove_member(*, db_session: Session, region_code: str, actor: Actor) -> None:
    """Authority: drop a node from the next registry version."""
    member = db_session.get(Member, region_code)
    if member is None:
        raise NotFound("该节点不在注册表中 / no such member", details={"region_code": region_code})
    db_session.delete(member)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.member_removed", entity="federation_member",
          entity_id=region_code, details={})


def issue(*, db_session: Session, settings: Settings, actor: Actor = SYSTEM_ACTOR,
          now: datetime | None = None, lifetime: timedelta = REGISTRY_LIFETIME
          ) -> RegistryDocument:
    """Authority: sign the next registry version from the member list, and store it."""
    now = now or utcnow()
    anchor = _authority_anchor(db_session)
    key = authority_key(settings)
    last = db_session.scalar(select(RegistryDocument.version)
                             .where(RegistryDocument.instance == anchor.instance)
                             .order_by(RegistryDocument.version.desc()).limit(1))
    version = (last or 0) + 1
    members = db_session.scalars(select(Member).order_by(Member.region_code))
    nodes = [{"region_code": m.region_code, "name": m.name, "endpoint": m.endpoint,
              "node_key": m.node_key, "trust_list_url": m.trust_list_url,
              "offered": list(m.offered)} for m in members]
    iat, exp = int(now.timestamp()), int((now + lifetime).timestamp())
    claims = {"instance": anchor.instance, "version": version, "iat": iat, "exp": exp,
              "authority": anchor.authority_kid, "nodes": nodes}
    token = envelopes.sign_json(claims, key=key, kid=anchor.authority_kid, typ=REGISTRY_TYP)
    doc = RegistryDocument(instance=anchor.instance, version=version, token=token,
                           issued_at=_at(iat), expires_at=_at(exp))
    db_session.add(doc)
    db_session.flush()
    _forget(db_session)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.registry_issued", entity="federation_registry",
          entity_id=f"{anchor.instance}/{version}",
          details={"nodes": len(nodes), "expires_at": doc.expires_at.isoformat()})
    return doc


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- anchors ------------------------------------------------------------------------------


def export_anchor(*, db_session: Session) -> dict[str, Any]:
    """The anchor peers import to trust this federation's registry."""
    anchor = _authority_anchor(db_session)
    doc = {"type": ANCHOR_TYPE, "instance": anchor.instance,
           "registry_url": anchor.registry_url,
           "authority_key": {"kid": anchor.authority_kid, "kty": "OKP", "crv": "Ed25519",
                             "x": anchor.authority_x},
           "generated_at": envelopes.rfc3339(utcnow())}
    doc["fingerprint"] = anchor_fingerprint(doc)
    return doc


def anchor_fingerprint(doc: dict[str, Any]) -> str:
    """SHA-256 over the anchor's instance, URL and key: compared by phone, out of band."""
    core = {"instance": doc.get("instance"), "registry_url": doc.get("registry_url"),
            "authority_key": doc.get("authority_key")}
    return envelopes.sha256_hex(signing.canonical(core))


def import_anchor(*, db_session: Session, document: dict[str, Any],
                  actor: Actor = SYSTEM_ACTOR) -> Anchor:
    """Trust a federation: store its registry URL and authority key."""
    try:
        if document.get("type") != ANCHOR_TYPE:
            raise ValueError(f"type must be {ANCHOR_TYPE}")
        key = document["authority_key"]
        public = signing.public_key_from_x(str(key["x"]))
        instance, url, kid = str(document["instance"]), str(document["registry_url"]), \
            str(key["kid"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput("锚点文件无效 / the anchor file is malformed",
                           details={"reason": str(exc)}) from exc
    if kid != authority_kid(instance, public):
        raise InvalidInput("锚点密钥标识与密钥不符 / the anchor's key id does not match its key",
                           details={"field": "authority_key.kid"})
    if "fingerprint" in document and document["fingerprint"] != anchor_fingerprint(document):
        raise InvalidInput("锚点指纹不符 / the anchor fingerprint does not match its content",
                           details={"field": "fingerprint"})
    existing = db_session.scalars(select(Anchor)).first()
    if existing is not None and existing.instance != instance:
        raise Conflict("本节点已属于另一联邦 / this node already belongs to another federation",
                       details={"instance": existing.instance})
    anchor = existing or Anchor(instance=instance)
    anchor.registry_url, anchor.authority_kid = url, kid
    anchor.authority_x = str(document["authority_key"]["x"])
    anchor.imported_at = utcnow()
    db_session.add(anchor)
    db_session.flush()
    _forget(db_session)
    audit(db_session=db_session, actor_id=actor.account_id, actor_name=actor.name,
          action="federation.anchor_imported", entity="federation_anchor", entity_id=instance,
          details={"registry_url": url, "fingerprint": anchor_fingerprint(document)})
    return anchor


# --- the registry as a node reads it ------------------------------------------------------


@dataclass(frozen=True)
class NodeEntry:
    region_code: str
    name: str
    endpoint: str
    node_key: str
    kid: str
    public_key: Ed25519PublicKey
    trust_list_url: str
    offered: frozenset[str]


@dataclass(frozen=True)
class Registry:
    instance: str
    version: int
    issued_at: datetime
    expires_at: datetime
    nodes: dict[str, NodeEntry]
    token: str

    def node(self, region_code: str) -> NodeEntry | None:
        return self.nodes.get(region_code)

    def by_kid(self, kid: str) -> NodeEntry | None:
        """The node whose registered key has this JWS kid."""
        for entry in self.nodes.values():
            if entry.kid == kid:
                return entry
        return None

    def handler_of(self, implementation_code: str) -> NodeEntry | None:
        """The node that offers an implementation across regions."""
        for entry in self.nodes.values():
            if implementation_code in entry.offered:
                return entry
        return None

    def node_covering(self, region_code: str) -> NodeEntry | None:
        """The node whose region contains `region_code` (a person's home region)."""
        best = None
        for entry in self.nodes.values():
            prefix = region_prefix(entry.region_code)
            if region_code.startswith(prefix) and (
                    best is None or len(prefix) > len(region_prefix(best.region_code))):
                best = entry
        return best


class RegistryInvalid(ValueError):
    """A registry token that is not signed by the anchor's key, or is malformed."""


@lru_cache(maxsize=32)
def parse_registry(token: str, authority_kid_: str, authority_x: str) -> Registry:
    """Verify a registry token against an anchor and read it (cached per token)."""
    try:
        jws = signing.parse(token)
    except signing.JwsFormatError as exc:
        raise RegistryInvalid(str(exc)) from exc
    if jws.header.get("typ") != REGISTRY_TYP or jws.kid != authority_kid_:
        raise RegistryInvalid("not a registry signed by the anchor's authority key")
    if not jws.verify(signing.public_key_from_x(authority_x)):
        raise RegistryInvalid("the registry signature does not verify")
    claims = jws.payload
    try:
        nodes = {}
        for raw in claims["nodes"]:
            name, key_id, public = node_keys.parse_verifier_key(raw["node_key"])
            nodes[raw["region_code"]] = NodeEntry(
                region_code=raw["region_code"], name=raw["name"],
                endpoint=raw["endpoint"].rstrip("/"), node_key=raw["node_key"],
                kid=f"{name}+{key_id.hex()}", public_key=public,
                trust_list_url=raw["trust_list_url"], offered=frozenset(raw["offered"]))
        return Registry(instance=claims["instance"], version=int(claims["version"]),
                        issued_at=_at(int(claims["iat"])), expires_at=_at(int(claims["exp"])),
                        nodes=nodes, token=token)
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryInvalid(f"malformed registry: {exc}") from exc


def _latest_doc(db_session: Session, anchor: Anchor) -> RegistryDocument | None:
    return db_session.scalars(
        select(RegistryDocument).where(RegistryDocument.instance == anchor.instance)
        .order_by(RegistryDocument.version.desc()).limit(1)).first()


_CACHE_KEY = "federation.registry"


def stored(*, db_session: Session) -> Registry | None:
    """The newest stored registry (verified), expired or not; None if there is none.
    Read once per transaction (cached in the session) since every envelope needs it."""
    if _CACHE_KEY in db_session.info:
        cached: Registry | None = db_session.info[_CACHE_KEY]
        return cached
    anchor = db_session.scalars(select(Anchor)).first()
    doc = _latest_doc(db_session, anchor) if anchor is not None else None
    found = (parse_registry(doc.token, anchor.authority_kid, anchor.authority_x)
             if anchor is not None and doc is not None else None)
    db_session.info[_CACHE_KEY] = found
    return found


def _forget(db_session: Session) -> None:
    db_session.info.pop(_CACHE_KEY, None)


def current(*, db_session: Session, now: datetime | None = None) -> Registry:
    """The registry to act on; fails closed when there is none or it has expired."""
    registry = stored(db_session=db_session)
    if registry is None:
        raise EnvelopeRejected("registry_missing")
    now = now or utcnow()
    if registry.expires_at <= now:
        raise EnvelopeRejected("registry_expired", details={
            "version": registry.version, "expired_at": registry.expires_at.isoformat()})
    return registry


def store_token(*, db_session: Session, token: str) -> tuple[Registry, bool]:
    """Verify a fetched registry against the anchor and keep it if newer; (registry, new)."""
    anchor = _authority_anchor(db_session)
    try:
        registry = parse_registry(token, anchor.authority_kid, anchor.authority_x)
    except RegistryInvalid as exc:
        raise InvalidInput("注册表签名或格式无效 / the registry is not validly signed",
                           code="registry_invalid", details={"reason": str(exc)}) from exc
    if registry.instance != anchor.instance:
        raise InvalidInput("注册表不属于锚点所指联邦 / the registry is of another federation",
                           code="registry_invalid", details={"instance": registry.instance})
    latest = _latest_doc(db_session, anchor)
    if latest is not None and latest.version >= registry.version:
        if latest.version > registry.version:
            return parse_registry(latest.token, anchor.authority_kid, anchor.authority_x), False
        return registry, False
    db_session.add(RegistryDocument(instance=registry.instance, version=registry.version,
                                    token=token, issued_at=registry.issued_at,
                                    expires_at=registry.expires_at))
    db_session.flush()
    _forget(db_session)
    return registry, True


def current_token(*, db_session: Session) -> str:
    """The newest registry this node holds, for peers that pull from it."""
    registry = stored(db_session=db_session)
    if registry is None:
        raise NotFound("本节点没有注册表 / this node holds no registry", code="registry_missing")
    return registry.token


RETRY_EVERY = timedelta(seconds=5)


def needs_refresh(*, db_session: Session, now: datetime) -> bool:
    """Whether this member should pull the registry again: every 60 s (X-Road's
    interval), or every 5 s while it has none or it has expired."""
    anchor = db_session.scalars(select(Anchor)).first()
    if anchor is None:
        return False
    if anchor.pulled_at is None:
        return True
    since = now - anchor.pulled_at
    registry = stored(db_session=db_session)
    if registry is None or registry.expires_at <= now:
        return since >= RETRY_EVERY
    return since >= REFRESH_EVERY


def mark_pulled(*, db_session: Session, now: datetime) -> None:
    """Remember when the registry was last fetched (successfully or not)."""
    anchor = _authority_anchor(db_session)
    anchor.pulled_at = now


def authority_due(*, db_session: Session, settings: Settings, now: datetime) -> bool:
    """Authority: whether the registry should be re-signed (half its life has passed)."""
    if not is_authority(settings) or db_session.get(LocalNode, 1) is None:
        return False
    registry = stored(db_session=db_session)
    return registry is None or registry.expires_at - now <= REGISTRY_LIFETIME / 2


def is_authority(settings: Settings) -> bool:
    return keyring(settings).authority is not None or (
        not settings.production and _authority_key_path(settings).exists())


def anchor_url(*, db_session: Session) -> str | None:
    anchor = db_session.scalars(select(Anchor)).first()
    return anchor.registry_url if anchor else None
