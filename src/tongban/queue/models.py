"""The worker's job table: one row per registered job, the lease every worker claims."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.db import Base


class JobState(Base):
    """A registered worker job: when it may next run, and how its last run went.

    A worker runs a leased job only while it holds this row (FOR UPDATE SKIP LOCKED on
    PostgreSQL, the write lock on SQLite), so two workers never run it at once, and
    `next_run_at` spaces its runs node-wide whatever the number of workers.
    """

    __tablename__ = "worker_jobs"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    next_run_at: Mapped[datetime]
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive, reset by a success
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_done: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_worker: Mapped[str | None] = mapped_column(String(120))
