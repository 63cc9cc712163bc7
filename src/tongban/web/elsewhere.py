"""Applying online for an item another node handles (全程网办 from the portal).

The signed federation registry says which node handles an implementation across regions.
When it names another node, a local case would sit where no one handles it: the portal
files the draft there instead (federation.modes.forward, mode fully_online) if the guide
offers 全程网办, and otherwise refuses before anything is written, pointing the applicant
to a window (异地代收代办). Without a registry (a single node) every item is this node's.

What goes there is what the applicant uploaded: this node's e-licences (一证通办) and its
shared data (免提交) cannot be used by the handling node, so those materials are uploaded.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tongban.blobs.store import BlobStore
from tongban.catalog.schemas import GuidePage
from tongban.config import Settings
from tongban.errors import Conflict
from tongban.federation import modes, registry
from tongban.federation.schemas import ForwardedCaseOut, ForwardIn, MaterialIn
from tongban.identity.actor import Actor
from tongban.sharing import nofill
from tongban.web.agent import ActingFor
from tongban.web.forwarding import region_names
from tongban.web.models import Draft

MODE = "fully_online"


@dataclass(frozen=True)
class Elsewhere:
    """The node that handles an item, when it is not this one."""

    region_code: str
    region_name: str
    node_name: str
    fully_online: bool


def handled_elsewhere(*, db_session: Session, settings: Settings, guide_page: GuidePage
                      ) -> Elsewhere | None:
    """The other node the registry names as the item's handler; None when this node
    handles it or holds no registry. An expired registry still says who handles it (so
    nothing is filed here by mistake); forwarding then fails closed with its reason."""
    reg = registry.stored(db_session=db_session)
    entry = reg.handler_of(guide_page.implementation_code) if reg is not None else None
    if entry is None or entry.region_code == settings.node_region:
        return None
    names = region_names(db_session=db_session, codes={entry.region_code})
    return Elsewhere(region_code=entry.region_code, region_name=names[entry.region_code],
                     node_name=entry.name,
                     fully_online=MODE in guide_page.guide.cross_region_modes)


def refuse_unless_online(elsewhere: Elsewhere | None) -> None:
    """Another node handles the item and it cannot be applied for online from here:
    refuse (409) before any draft, upload or case is written."""
    if elsewhere is not None and not elsewhere.fully_online:
        raise Conflict(f"该事项由{elsewhere.region_name}办理，不支持全程网办，请到窗口办理"
                       f"（异地代收代办） / this item is handled in {elsewhere.region_code} "
                       "and cannot be applied for online from here: apply at a service "
                       "window (receive and forward)", code="apply_at_window",
                       details={"handling_region": elsewhere.region_code})


def _materials(db_session: Session, actor: Actor, draft: Draft, store: BlobStore
               ) -> list[MaterialIn]:
    """The draft's uploads as the envelope carries them; a fetch of this node's shared
    data cannot go along, so its answer is purged (as a declined fetch is)."""
    out = []
    for code, info in (draft.materials or {}).items():
        if "fetch_id" in info:
            nofill.decline(db_session=db_session, actor=actor,
                           fetch_id=uuid.UUID(info["fetch_id"]))
            continue
        out.append(MaterialIn(code=code, filename=info.get("filename", "file"),
                              content_base64=base64.b64encode(
                                  store.get(info["sha256"])).decode()))
    return out


def forward_draft(*, db_session: Session, settings: Settings, actor: Actor, draft: Draft,
                  form_data: dict[str, object], store: BlobStore,
                  acting: ActingFor | None) -> ForwardedCaseOut:
    """File the draft at the handling node (全程网办), its key as the idempotency key, for
    the principal when an agent acts for one."""
    if acting is not None and acting.person_id is None:
        raise Conflict("为企业代办的全程网办暂不支持，请到窗口办理 / applying online in "
                       "another region for an enterprise is not supported: apply at a "
                       "service window", code="apply_at_window")
    return modes.forward(db_session=db_session, settings=settings, actor=actor,
                         data=ForwardIn(implementation_code=draft.implementation_code,
                                        mode=MODE, form_data=dict(form_data),
                                        person_id=acting.person_id if acting else None,
                                        materials=_materials(db_session, actor, draft, store),
                                        idempotency_key=draft.key))
