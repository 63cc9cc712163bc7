"""Moving a node's blobs from its disk into its S3 store, and checking that every
material a case names is in the store the node now uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from tongban.blobs.store import NAMESPACES, blob_store, disk_store
from tongban.config import Settings
from tongban.errors import NotFound
from tongban.node.registry import ConfigurationError


@dataclass
class MoveReport:
    copied: int = 0  # written to the store now
    present: int = 0  # already there (a re-run, or the same bytes uploaded twice)
    removed: int = 0  # local copies deleted after the store returned them intact
    corrupt: list[str] = field(default_factory=list)  # local files not matching their name


def to_s3(*, settings: Settings, keep_local: bool = False,
          progress: Callable[[str], None] | None = None) -> MoveReport:
    """Copy every disk blob of the node (materials and forwarding copies) into its S3
    store, read each back verified, then delete the local copy unless `keep_local`.
    Idempotent: a re-run skips what is there; a corrupt local file is reported and left."""
    if settings.blob_store != "s3":
        raise ConfigurationError("set TONGBAN_BLOB_STORE=s3 and TONGBAN_S3_* to the store "
                                 "the blobs move to")
    report = MoveReport()
    for namespace in NAMESPACES:
        source = disk_store(Path(settings.var_dir), settings.max_upload_bytes, namespace)
        target = blob_store(settings, namespace)
        for name in list(source.names()):
            try:
                data = source.get(name)
            except NotFound:
                report.corrupt.append(f"{namespace}/{name}")
                continue
            if target.exists(name):
                report.present += 1
            else:
                target.keep(data)
                report.copied += 1
            if target.get(name) != data:  # get() verifies the hash; never trust blindly
                raise NotFound("the store returned other bytes", details={"sha256": name})
            if not keep_local:
                source.delete(name)
                report.removed += 1
            if progress is not None:
                progress(name)
    return report


def referenced(*, db_session: Session) -> list[str]:
    """Every material SHA-256 the node's cases and bundles name."""
    from tongban.bundles.models import BundleMaterial
    from tongban.cases.models import CaseMaterial

    cases = select(CaseMaterial.sha256).where(CaseMaterial.sha256.is_not(None))
    bundles = select(BundleMaterial.sha256)
    return sorted(str(name) for name in db_session.scalars(union(cases, bundles)))


def missing(*, db_session: Session, settings: Settings) -> list[str]:
    """Referenced materials the node's store does not hold (after a move, none)."""
    store = blob_store(settings)
    return [name for name in referenced(db_session=db_session) if not store.exists(name)]
