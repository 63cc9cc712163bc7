"""Tables of the UI: application drafts (ratings live in tongban.supervision.ratings).

A draft keeps what an applicant typed and uploaded before submitting, so an expired
session or a closed tab loses nothing. Its random `key` is also the submission's
idempotency key: however often the final button is pressed, one case is created (or,
for an item another node handles, one forwarded case: 全程网办).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base, CreatedMixin, IdMixin, utcnow
from tongban.sealed import SealedJson


class Draft(IdMixin, CreatedMixin, Base):
    """An application in progress: form values as typed and materials uploaded so far."""

    __tablename__ = "web_drafts"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_accounts.id", ondelete="CASCADE"), index=True
    )
    implementation_code: Mapped[str] = mapped_column(String(31))
    # The form exactly as typed (strings), shown again when the applicant comes back.
    form: Mapped[dict[str, Any]] = mapped_column(SealedJson("web_drafts.form"), default=dict)
    # material code -> {"sha256", "size", "content_type", "filename"}
    materials: Mapped[dict[str, Any]] = mapped_column(SealedJson("web_drafts.materials"),
                                                       default=dict)
    case_number: Mapped[str | None] = mapped_column(String(32))
    # Set instead when the item is handled at another node: the draft went there (全程网办).
    forwarded_case_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def submitted(self) -> bool:
        """Did the draft become a case, here or at the handling node?"""
        return self.case_number is not None or self.forwarded_case_id is not None
