"""The floors of bench/http_cases.py: the same server stack (uvicorn, FastAPI, a sync
route in the thread pool, a pooled psycopg connection through SQLAlchemy) doing the least
a request can, so that what tongban costs beyond it is tongban's own work.

- POST /floor, the framework floor: parse a JSON body, run one statement in a
  transaction, commit and answer a body the size of a case's. Three of these make the
  ceiling of a lifecycle.
- The statement floor, on the lifecycle's own paths (so bench/http_cases.py's wrk script
  drives it unchanged): POST /api/v1/cases and POST /api/v1/cases/{number}/actions/{action}
  run as many statements, reads and writes, in as many transactions as tongban's request
  of that step (FLOOR_PLAN, JSON: {"apply": [reads, writes, commits], ...}, measured by
  http_cases), each a primary-key read or a one-row INSERT of an event's width into
  FLOOR_TABLE, and nothing else: the most lifecycles/s tongban's plan of statements allows
  through this stack, whatever its Python does.

    uvicorn floor_app:app --app-dir bench   (TONGBAN_DATABASE_URL: the database)
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastapi import FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, create_engine, text

BODY = b'{"padding":"' + b"x" * 3000 + b'"}'  # about a case detail's size
ONE = text("SELECT 1")
FLOOR_TABLE = "bench_floor_rows"
CREATE_TABLE = text(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, "
                    "at timestamptz NOT NULL, actor text NOT NULL, data jsonb NOT NULL)")
PLAN: dict[str, list[int]] = json.loads(os.environ.get("FLOOR_PLAN", "{}"))
_READ = text(f"SELECT id, at, actor, data FROM {FLOOR_TABLE} WHERE id = :id")
_WRITE = text(f"INSERT INTO {FLOOR_TABLE} (at, actor, data) VALUES (:at, :actor, :data) "
              "RETURNING id")
_DATA = json.dumps({"from": "submitted", "to": "accepted", "reason": None,
                    "note": "材料齐全,予以受理", "version": 2}, ensure_ascii=False)
_numbers = itertools.count(1)

app = FastAPI()


@cache
def engine() -> Engine:
    """The pool, made on first use (http_cases imports this module for its table)."""
    return create_engine(os.environ["TONGBAN_DATABASE_URL"], pool_size=20, max_overflow=10)


class ActionIn(BaseModel):
    reason: str | None = None
    data: dict[str, Any] = {}


class SubmitIn(BaseModel):
    implementation_code: str
    channel: str
    form_data: dict[str, Any] = {}


@app.get("/api/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/floor")
def floor(body: ActionIn) -> Response:
    with engine().begin() as conn:
        conn.execute(ONE)
    return Response(BODY, media_type="application/json")


def _statements(step: str) -> None:
    """The step's reads and writes, spread over its transactions (writes first: a read
    finds the row this request wrote, as tongban's response reads what it wrote)."""
    reads, writes, commits = PLAN[step]
    todo = ["w"] * writes + ["r"] * reads
    per = -(-len(todo) // max(commits, 1))
    last = 1
    for start in range(0, len(todo), per):
        with engine().begin() as conn:
            for kind in todo[start:start + per]:
                last = _run(conn, kind, last)


def _run(conn: Connection, kind: str, last: int) -> int:
    if kind == "r":
        conn.execute(_READ, {"id": last}).first()
        return last
    return int(conn.execute(_WRITE, {"at": datetime.now(UTC), "actor": "窗口人员",
                                     "data": _DATA}).scalar_one())


@app.post("/api/v1/cases", status_code=201)
def apply(body: SubmitIn) -> Response:
    _statements("apply")
    number = f'{{"number":"{next(_numbers)}",'.encode()
    return Response(number + BODY[1:], status_code=201, media_type="application/json")


@app.post("/api/v1/cases/{number}/actions/{action}")
def act(number: str, action: str, body: ActionIn) -> Response:
    _statements(action)
    return Response(BODY, media_type="application/json")
