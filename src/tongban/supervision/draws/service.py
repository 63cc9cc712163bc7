"""双随机一公开: freeze the two lists, commit to the draw before its randomness exists,
draw with the public algorithm (verify_draw.py, stdlib only), log recusals, publish.

The order is what makes a draw auditable: (1) lists frozen, their hashes fixed; (2) the
commitment (list hashes, rules hash, the randomness source) written to the ledger; (3)
the randomness: the root of the first ledger checkpoint that includes the commitment's own
entry and is signed after a delay, or a drand round named in (2); (4) seed and result by
verify_draw.draw; (5) every recusal appended and the result re-run with all of them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.db import utcnow
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound
from tongban.identity.actor import Actor
from tongban.ledger import service as ledger
from tongban.supervision.draws import verify_draw as algo
from tongban.supervision.draws.models import Draw, DrawList, DrawRecusal
from tongban.supervision.draws.schemas import (
    DrawIn,
    InspectorEntry,
    ListIn,
    RecusalIn,
    TargetEntry,
)

ROLES = ("supervisor", "operator")
# drand quicknet (League of Entropy): a round every 3 s from this genesis.
QUICKNET_CHAIN = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_GENESIS, QUICKNET_PERIOD = 1692803367, 3
ENTRY_SCHEMAS: dict[str, type[BaseModel]] = {"targets": TargetEntry,
                                             "inspectors": InspectorEntry}


def _authorise(actor: Actor, region_code: str) -> None:
    if not actor.has(*ROLES):
        raise Forbidden("仅限监督人员 / supervisors only", details={"required_roles": list(ROLES)})
    if not actor.has("system") and not actor.covers(region_code):
        raise Forbidden("该地区不在您的辖区范围内 / this region is outside your scope",
                        code="out_of_scope", details={"region_code": region_code})


def _act(db_session: Session, kind: str, payload: dict[str, Any]) -> uuid.UUID:
    """Log a legal act; the id of its message (its ledger entry's source id)."""
    return ledger.record_act(db_session=db_session, kind=kind, payload=payload)


# --- lists ---------------------------------------------------------------------------------


def _checked_entries(kind: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    schema = ENTRY_SCHEMAS[kind]
    checked, problems = [], []
    for i, entry in enumerate(entries):
        try:
            checked.append(schema.model_validate(entry).model_dump())
        except ValidationError as exc:
            problems += [{"field": ".".join(["entries", str(i), *map(str, e["loc"])]),
                          "message": e["msg"]} for e in exc.errors(include_url=False)]
    ids = [e["id"] for e in checked]
    repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    if repeated:
        problems.append({"field": "entries", "message": f"编号重复 / repeated ids: "
                         f"{', '.join(repeated[:10])}"})
    if problems:
        raise InvalidInput(f"名录有误 / the list is invalid: {problems[0]['field']}: "
                           f"{problems[0]['message']}", details=problems)
    return sorted(checked, key=lambda e: e["id"])


def create_list(*, db_session: Session, actor: Actor, data: ListIn) -> DrawList:
    """An open list of targets or inspectors (checked entry by entry, all or nothing)."""
    catalog.ensure_region_exists(db_session=db_session, region_code=data.region_code)
    _authorise(actor, data.region_code)
    row = DrawList(kind=data.kind, name=data.name, region_code=data.region_code,
                   entries=_checked_entries(data.kind, data.entries), state="open",
                   created_by=actor.name)
    db_session.add(row)
    db_session.flush()
    return row


def get_list(*, db_session: Session, list_id: uuid.UUID) -> DrawList:
    """A list by id, or 404."""
    row = db_session.get(DrawList, list_id)
    if row is None:
        raise NotFound(f"名录不存在 / no such list: {list_id}", details={"list_id": str(list_id)})
    return row


def freeze_list(*, db_session: Session, actor: Actor, list_id: uuid.UUID,
                now: datetime | None = None) -> DrawList:
    """Fix a list for draws: its hash is computed, logged, and it never changes again."""
    row = db_session.get(DrawList, list_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"名录不存在 / no such list: {list_id}", details={"list_id": str(list_id)})
    _authorise(actor, row.region_code)
    if row.state == "frozen":
        return row
    row.state, row.sha256, row.frozen_at = "frozen", algo.list_hash(row.entries), now or utcnow()
    _act(db_session, "supervision.draw_list_frozen",
         {"list_id": str(row.id), "kind": row.kind, "sha256": row.sha256,
          "entries": len(row.entries)})
    db_session.flush()
    return row


# --- draws ---------------------------------------------------------------------------------


def _frozen(db_session: Session, list_id: uuid.UUID, kind: str, field: str) -> DrawList:
    row = get_list(db_session=db_session, list_id=list_id)
    if row.kind != kind:
        raise InvalidInput(f"{field} 须为{'检查对象' if kind == 'targets' else '检查人员'}名录 / "
                           f"{field} must be a {kind} list", details={"field": field})
    if row.state != "frozen":
        raise Conflict("名录须先冻结 / freeze the list before drawing from it",
                       code="list_not_frozen", details={"field": field})
    return row


def _round_time(round_: int) -> datetime:
    return datetime.fromtimestamp(QUICKNET_GENESIS + (round_ - 1) * QUICKNET_PERIOD, UTC)


def _source(data: DrawIn, now: datetime) -> dict[str, Any]:
    if data.source.kind == "drand":
        assert data.source.round is not None
        at = _round_time(data.source.round)
        if at <= now:
            raise InvalidInput("drand 轮次须在承诺之后产生 / the drand round must be in the "
                               "future", details={"field": "source.round",
                                                  "round_time": at.isoformat()})
        return {"kind": "drand", "chain_hash": QUICKNET_CHAIN,
                "round": data.source.round, "round_time": at.isoformat()}
    not_before = now + timedelta(seconds=data.source.delay_seconds)
    return {"kind": "ledger", "not_before": not_before.isoformat()}


def commit_draw(*, db_session: Session, actor: Actor, data: DrawIn,
                now: datetime | None = None) -> Draw:
    """Commit to a draw: list and rules hashes and the future randomness, in the ledger."""
    now = now or utcnow()
    targets = _frozen(db_session, data.targets_list_id, "targets", "targets_list_id")
    inspectors = _frozen(db_session, data.inspectors_list_id, "inspectors",
                         "inspectors_list_id")
    _authorise(actor, targets.region_code)
    rules = data.rules.as_data()
    if len(inspectors.entries) < data.rules.inspectors_per_target:
        raise InvalidInput("检查人员少于每户所需人数 / fewer inspectors than each target "
                           "needs", details={"field": "rules.inspectors_per_target"})
    draw_id = uuid.uuid4()
    commitment = {
        "v": algo.VERSION, "draw_id": str(draw_id), "task": data.task,
        "region_code": targets.region_code, "targets_hash": targets.sha256,
        "inspectors_hash": inspectors.sha256,
        "rules_hash": algo.sha256_hex(algo.canonical(rules)),
        "source": _source(data, now), "committed_at": now.isoformat(),
    }
    row = Draw(id=draw_id, task=data.task, region_code=targets.region_code, state="committed",
               targets_list_id=targets.id, inspectors_list_id=inspectors.id, rules=rules,
               commitment=commitment, commitment_hash=algo.commitment_hash(commitment),
               committed_at=now, committed_by=actor.name)
    message = _act(db_session, "supervision.draw_commit",
                   {"draw_id": str(draw_id), "commitment_hash": row.commitment_hash})
    row.reveal = {"commitment_message_id": str(message)}
    db_session.add(row)
    db_session.flush()
    return row


def get_draw(*, db_session: Session, draw_id: uuid.UUID, lock: bool = False) -> Draw:
    """A draw by id (locked for this transaction when it is to change), or 404."""
    row = db_session.get(Draw, draw_id, with_for_update=lock or None,
                         populate_existing=lock)
    if row is None:
        raise NotFound(f"抽查任务不存在 / no such draw: {draw_id}",
                       details={"draw_id": str(draw_id)})
    return row


def _ledger_reveal(db_session: Session, draw: Draw, now: datetime) -> dict[str, Any]:
    source = draw.commitment["source"]
    not_before = datetime.fromisoformat(source["not_before"])
    if now < not_before:
        raise Conflict(f"随机数尚未产生,请于 {not_before.isoformat()} 之后抽取 / the "
                       "randomness does not exist yet", code="randomness_not_yet",
                       details={"not_before": source["not_before"]})
    assert draw.reveal is not None
    index = ledger.entry_index_of(db_session=db_session,
                                  source_id=uuid.UUID(draw.reveal["commitment_message_id"]))
    cp = None if index is None else ledger.first_checkpoint_after(
        db_session=db_session, index=index, not_before=not_before)
    if index is None or cp is None:
        raise Conflict("承诺尚未写入已签名的账本检查点,请稍后再试 / no signed checkpoint "
                       "includes the commitment yet; try again shortly",
                       code="randomness_not_yet", details={"commitment_entry_index": index})
    return {**draw.reveal, "commitment_entry_index": index, "checkpoint_note": cp.note,
            "tree_size": cp.tree_size}


def _drand_reveal(draw: Draw, signature: str | None, now: datetime) -> dict[str, Any]:
    source = draw.commitment["source"]
    if now < datetime.fromisoformat(source["round_time"]):
        raise Conflict("drand 轮次尚未产生 / the drand round is not out yet",
                       code="randomness_not_yet", details={"round_time": source["round_time"]})
    if not signature:
        raise InvalidInput("须提供该轮 drand 签名 / give the round's drand signature",
                           details={"field": "drand_signature"})
    verified = _verify_drand(source["round"], signature)
    return {**(draw.reveal or {}), "round": source["round"], "signature": signature,
            "signature_verified": verified}


def _verify_drand(round_: int, signature: str) -> bool:
    """BLS check of a quicknet round when drand-verify is installed (False if it is not:
    the page says so, and anyone can check the signature with drand's own tools)."""
    try:
        from drand_verify import verify_quicknet
    except ImportError:
        return False
    try:
        verify_quicknet(round_, signature)
    except Exception as exc:  # the library raises its own error types
        raise InvalidInput("drand 签名验证失败 / the drand signature does not verify",
                           details={"field": "drand_signature"}) from exc
    return True


def _redraw(db_session: Session, draw: Draw) -> dict[str, Any]:
    assert draw.seed is not None
    targets = get_list(db_session=db_session, list_id=draw.targets_list_id)
    inspectors = get_list(db_session=db_session, list_id=draw.inspectors_list_id)
    return algo.draw(seed=bytes.fromhex(draw.seed), targets=targets.entries,
                     inspectors=inspectors.entries, rules=draw.rules,
                     recusals=[_recusal_data(r) for r in recusals(db_session=db_session,
                                                                  draw_id=draw.id)])


def run_draw(*, db_session: Session, actor: Actor, draw_id: uuid.UUID,
             drand_signature: str | None = None, now: datetime | None = None) -> Draw:
    """Draw once the committed randomness exists: seed, selection, inspectors, logged."""
    now = now or utcnow()
    draw = get_draw(db_session=db_session, draw_id=draw_id, lock=True)
    _authorise(actor, draw.region_code)
    if draw.state == "drawn":
        raise Conflict("该任务已抽取 / this draw is done", code="already_drawn")
    source = draw.commitment["source"]
    reveal = _ledger_reveal(db_session, draw, now) if source["kind"] == "ledger" \
        else _drand_reveal(draw, drand_signature, now)
    randomness = algo.randomness_of(source, reveal)
    c = draw.commitment
    seed = algo.seed_of(draw_id=c["draw_id"], randomness=randomness,
                        targets_hash=c["targets_hash"], inspectors_hash=c["inspectors_hash"],
                        rules_hash=c["rules_hash"])
    draw.reveal, draw.randomness, draw.seed = reveal, randomness, seed.hex()
    draw.result, draw.state, draw.drawn_at = _redraw(db_session, draw), "drawn", now
    _act(db_session, "supervision.draw_result",
         {"draw_id": str(draw.id), "seed": draw.seed, "result_hash": _result_hash(draw)})
    db_session.flush()
    return draw


def _result_hash(draw: Draw) -> str:
    return hashlib.sha256(algo.canonical(draw.result)).hexdigest()


def recusals(*, db_session: Session, draw_id: uuid.UUID) -> list[DrawRecusal]:
    """A draw's recusals in the order they were recorded."""
    return list(db_session.scalars(select(DrawRecusal).where(DrawRecusal.draw_id == draw_id)
                                   .order_by(DrawRecusal.seq)))


def _recusal_data(r: DrawRecusal) -> dict[str, Any]:
    return {"target_id": r.target_id, "inspector_id": r.inspector_id, "reason": r.reason}


def recuse(*, db_session: Session, actor: Actor, draw_id: uuid.UUID, data: RecusalIn,
           now: datetime | None = None) -> Draw:
    """回避: an assigned inspector steps aside; the next eligible one by rank takes over."""
    draw = get_draw(db_session=db_session, draw_id=draw_id, lock=True)
    _authorise(actor, draw.region_code)
    if draw.state != "drawn" or draw.result is None:
        raise Conflict("尚未抽取 / the draw has not been made", code="not_drawn")
    assigned = {s["target_id"]: s["inspector_ids"] for s in draw.result["selected"]}
    if data.inspector_id not in assigned.get(data.target_id, []):
        raise InvalidInput("该检查人员未被分派到该检查对象 / this inspector is not assigned "
                           "to this target", details={"field": "inspector_id",
                                                      "assigned": assigned.get(data.target_id)})
    seq = (db_session.scalar(select(func.max(DrawRecusal.seq))
                             .where(DrawRecusal.draw_id == draw.id)) or 0) + 1
    db_session.add(DrawRecusal(draw_id=draw.id, seq=seq, target_id=data.target_id,
                               inspector_id=data.inspector_id, reason=data.reason,
                               recorded_by=actor.name, recorded_at=now or utcnow()))
    db_session.flush()
    draw.result = _redraw(db_session, draw)
    _act(db_session, "supervision.draw_recusal",
         {"draw_id": str(draw.id), "seq": seq, "target_id": data.target_id,
          "inspector_id": data.inspector_id, "result_hash": _result_hash(draw)})
    db_session.flush()
    return draw


def list_lists(*, db_session: Session, actor: Actor, limit: int = 100) -> list[DrawList]:
    """The lists of the regions in the actor's scopes, the newest first."""
    if not actor.has(*ROLES):
        raise Forbidden("仅限监督人员 / supervisors only", details={"required_roles": list(ROLES)})
    rows = db_session.scalars(select(DrawList).order_by(DrawList.created_at.desc(), DrawList.id)
                              .limit(max(1, min(limit, 500))))
    return [r for r in rows if actor.has("system") or actor.covers(r.region_code)]


def list_draws(*, db_session: Session, limit: int = 100) -> list[Draw]:
    """Every draw, the newest first (they are public)."""
    return list(db_session.scalars(select(Draw).order_by(Draw.committed_at.desc(), Draw.id)
                                   .limit(max(1, min(limit, 500)))))


@dataclass(frozen=True)
class Published:
    """A draw with everything the public page shows and the verifier needs."""

    draw: Draw
    targets: DrawList
    inspectors: DrawList
    recusals: list[DrawRecusal]

    def bundle(self) -> dict[str, Any]:
        """The verifier's input (verify_draw.py BUNDLE.json)."""
        d = self.draw
        return {"commitment": d.commitment, "commitment_hash": d.commitment_hash,
                "targets": self.targets.entries, "inspectors": self.inspectors.entries,
                "rules": d.rules, "reveal": d.reveal, "randomness": d.randomness,
                "seed": d.seed, "recusals": [_recusal_data(r) for r in self.recusals],
                "result": d.result}


def published(*, db_session: Session, draw_id: uuid.UUID) -> Published:
    """A draw with its lists and recusals."""
    draw = get_draw(db_session=db_session, draw_id=draw_id)
    return Published(draw, get_list(db_session=db_session, list_id=draw.targets_list_id),
                     get_list(db_session=db_session, list_id=draw.inspectors_list_id),
                     recusals(db_session=db_session, draw_id=draw.id))
