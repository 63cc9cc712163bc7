"""HTTP routes of 双随机一公开: supervisors make lists and draws; draws, frozen lists, the
verifier's bundle and the verifier itself are public (一公开)."""

from __future__ import annotations

import uuid
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION
from tongban.errors import NotFound
from tongban.identity.actor import Actor
from tongban.identity.deps import optional_actor, require_roles
from tongban.supervision.draws import service
from tongban.supervision.draws.models import DrawList
from tongban.supervision.draws.schemas import (
    DrawIn,
    DrawOut,
    ListIn,
    ListOut,
    RecusalIn,
    RecusalOut,
    RunIn,
)

router = APIRouter(prefix="/supervision/draws", tags=["supervision"])
SUPERVISOR = Depends(require_roles(*service.ROLES))


def list_out(row: DrawList) -> ListOut:
    return ListOut.model_validate(row, from_attributes=True)


def draw_out(pub: service.Published) -> DrawOut:
    d = pub.draw
    return DrawOut(
        id=d.id, task=d.task, region_code=d.region_code, state=d.state, rules=d.rules,
        commitment=d.commitment, commitment_hash=d.commitment_hash,
        committed_at=d.committed_at, randomness=d.randomness, seed=d.seed, result=d.result,
        drawn_at=d.drawn_at,
        recusals=[RecusalOut.model_validate(r, from_attributes=True) for r in pub.recusals])


@router.post("/lists", response_model=ListOut, status_code=201)
def create_list(data: ListIn, actor: Actor = SUPERVISOR, db: Session = DB_SESSION) -> Any:
    """An open list of inspection targets or inspectors (checked entry by entry)."""
    return list_out(service.create_list(db_session=db, actor=actor, data=data))


@router.post("/lists/{list_id}/freeze", response_model=ListOut)
def freeze_list(list_id: uuid.UUID, actor: Actor = SUPERVISOR,
                db: Session = DB_SESSION) -> Any:
    """Freeze a list: its hash is fixed and logged; draws may use it."""
    return list_out(service.freeze_list(db_session=db, actor=actor, list_id=list_id))


@router.get("/lists/{list_id}", response_model=ListOut)
def get_list(list_id: uuid.UUID, actor: Actor | None = Depends(optional_actor),
             db: Session = DB_SESSION) -> Any:
    """A frozen list (public), or an open one to a supervisor."""
    row = service.get_list(db_session=db, list_id=list_id)
    if row.state != "frozen" and (actor is None or not actor.has(*service.ROLES)):
        raise NotFound(f"名录不存在 / no such list: {list_id}")
    return list_out(row)


@router.post("", response_model=DrawOut, status_code=201)
def commit_draw(data: DrawIn, actor: Actor = SUPERVISOR, db: Session = DB_SESSION) -> Any:
    """Commit to a draw before its randomness exists (the commitment goes to the ledger)."""
    row = service.commit_draw(db_session=db, actor=actor, data=data)
    return draw_out(service.published(db_session=db, draw_id=row.id))


@router.get("", response_model=list[DrawOut])
def list_draws(db: Session = DB_SESSION) -> Any:
    """Every draw, newest first (public)."""
    return [draw_out(service.published(db_session=db, draw_id=d.id))
            for d in service.list_draws(db_session=db)]


@router.get("/verifier.py", response_class=Response)
def verifier() -> Response:
    """The standalone verifier (Python standard library only)."""
    text = resources.files("tongban.supervision.draws").joinpath("verify_draw.py").read_text(
        encoding="utf-8")
    return Response(text, media_type="text/x-python; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="verify_draw.py"'})


@router.get("/{draw_id}", response_model=DrawOut)
def get_draw(draw_id: uuid.UUID, db: Session = DB_SESSION) -> Any:
    """A draw: commitment, randomness, seed, result and recusals (public)."""
    return draw_out(service.published(db_session=db, draw_id=draw_id))


@router.get("/{draw_id}/bundle")
def get_bundle(draw_id: uuid.UUID, db: Session = DB_SESSION) -> dict[str, Any]:
    """Everything the verifier needs to re-run the draw (public)."""
    return service.published(db_session=db, draw_id=draw_id).bundle()


@router.post("/{draw_id}/run", response_model=DrawOut)
def run_draw(draw_id: uuid.UUID, data: RunIn | None = None, actor: Actor = SUPERVISOR,
             db: Session = DB_SESSION) -> Any:
    """Draw, once the committed randomness exists (409 randomness_not_yet before)."""
    service.run_draw(db_session=db, actor=actor, draw_id=draw_id,
                     drand_signature=data.drand_signature if data else None)
    return draw_out(service.published(db_session=db, draw_id=draw_id))


@router.post("/{draw_id}/recusals", response_model=DrawOut)
def recuse(draw_id: uuid.UUID, data: RecusalIn, actor: Actor = SUPERVISOR,
           db: Session = DB_SESSION) -> Any:
    """回避: an assigned inspector steps aside; the result is re-run with the recusal."""
    service.recuse(db_session=db, actor=actor, draw_id=draw_id, data=data)
    return draw_out(service.published(db_session=db, draw_id=draw_id))
