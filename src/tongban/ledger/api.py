"""HTTP routes of the transparency log: public, read-only, like any transparency log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from tongban.api_deps import DB_SESSION, get_settings_dep
from tongban.config import Settings
from tongban.ledger import service
from tongban.ledger.schemas import (
    CheckpointOut,
    ConsistencyProofOut,
    EntriesOut,
    InclusionProofOut,
    KeyOut,
)

router = APIRouter(prefix="/ledger", tags=["ledger"])

_SIZE = 2**62  # a bound so absurd numbers are a 422, not an overflow in the database


@router.get("/checkpoint", response_model=CheckpointOut)
def get_checkpoint(db: Session = DB_SESSION,
                   settings: Settings = Depends(get_settings_dep)) -> CheckpointOut:
    """The latest signed checkpoint (C2SP note), its fields and the key that verifies it."""
    return service.describe_checkpoint(db_session=db, settings=settings)


@router.get("/key", response_model=KeyOut)
def get_key(settings: Settings = Depends(get_settings_dep)) -> KeyOut:
    """The node key that signs checkpoints, as a C2SP verifier key."""
    return service.key_info(settings=settings)


@router.get("/entries", response_model=EntriesOut)
def get_entries(
    start: int = Query(0, ge=0, lt=_SIZE), end: int | None = Query(None, ge=0, lt=_SIZE),
    db: Session = DB_SESSION,
) -> EntriesOut:
    """Entries start..end-1 (end exclusive, at most 1000 per page)."""
    return service.entries(db_session=db, start=start, end=end)


@router.get("/proof/inclusion", response_model=InclusionProofOut)
def get_inclusion_proof(
    index: int | None = Query(None, ge=0, lt=_SIZE),
    leaf_hash: str | None = Query(None, max_length=100),
    tree_size: int | None = Query(None, ge=1, lt=_SIZE),
    db: Session = DB_SESSION,
) -> InclusionProofOut:
    """The RFC 9162 audit path of an entry, by index or leaf hash (hex or base64);
    tree_size defaults to the latest checkpoint's."""
    return service.inclusion_proof(db_session=db, index=index, leaf_hash=leaf_hash,
                                   tree_size=tree_size)


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def get_consistency_proof(
    first: int = Query(..., ge=1, lt=_SIZE),
    second: int | None = Query(None, ge=1, lt=_SIZE),
    db: Session = DB_SESSION,
) -> ConsistencyProofOut:
    """The RFC 9162 consistency proof from size `first` to `second` (default: latest
    checkpoint)."""
    return service.consistency_proof(db_session=db, first=first, second=second)
