"""People, enterprises, accounts, roles, staff scopes, sessions, agent authorisations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tongban.db import Base, CreatedMixin, IdMixin, JsonType


class Role(StrEnum):
    applicant = "applicant"
    agent = "agent"
    clerk = "clerk"
    reviewer = "reviewer"
    supervisor = "supervisor"
    catalog_admin = "catalog_admin"
    data_steward = "data_steward"
    operator = "operator"


STAFF_ROLES = frozenset(
    {Role.clerk, Role.reviewer, Role.supervisor, Role.catalog_admin, Role.data_steward,
     Role.operator}
)


class Person(IdMixin, CreatedMixin, Base):
    """A natural person; the 公民身份号码 is stored only encrypted, found by keyed hash."""

    __tablename__ = "identity_people"

    name: Mapped[str] = mapped_column(String(100))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    gender: Mapped[str] = mapped_column(String(1))  # "M" / "F", from the 顺序码
    birth_date: Mapped[date]
    home_region: Mapped[str] = mapped_column(String(12), index=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class Enterprise(IdMixin, CreatedMixin, Base):
    """A legal person; its 统一社会信用代码 is public and stored as is."""

    __tablename__ = "identity_enterprises"

    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    legal_representative_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_people.id")
    )


class Account(IdMixin, CreatedMixin, Base):
    """A login; an applicant account belongs to a person or an enterprise."""

    __tablename__ = "identity_accounts"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("identity_people.id"))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_enterprises.id")
    )
    active: Mapped[bool] = mapped_column(default=True)

    roles: Mapped[list[AccountRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    scopes: Mapped[list[StaffScope]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class AccountRole(Base):
    __tablename__ = "identity_account_roles"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class StaffScope(IdMixin, Base):
    """Where a staff member may act: a region (and everything below it), optionally
    narrowed to one department."""

    __tablename__ = "identity_staff_scopes"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_accounts.id", ondelete="CASCADE"), index=True
    )
    region_code: Mapped[str] = mapped_column(String(12))
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_departments.id")
    )


class LoginSession(CreatedMixin, Base):
    """A bearer token / cookie session; only the token's SHA-256 is stored."""

    __tablename__ = "identity_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_accounts.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The principal an agent acts for in this session, if any.
    acting_for_authorisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_agent_authorisations.id")
    )

    account: Mapped[Account] = relationship(lazy="joined")


class AgentAuthorisation(IdMixin, CreatedMixin, Base):
    """A recorded authorisation: the agent may act for the principal, for these items,
    until then (帮办代办)."""

    __tablename__ = "identity_agent_authorisations"

    agent_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_accounts.id"), index=True
    )
    principal_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_people.id")
    )
    principal_enterprise_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_enterprises.id")
    )
    # 基本编码 of the items covered; empty means every item.
    item_codes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("identity_accounts.id"))

    __table_args__ = (
        Index("ix_identity_agent_auth_principal", "principal_person_id",
              "principal_enterprise_id"),
    )
