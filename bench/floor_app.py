"""The framework floor of bench/http_cases.py: the same server stack (uvicorn, FastAPI, a
sync route in the thread pool, a pooled psycopg connection through SQLAlchemy) doing
the least a write request can: parse a JSON body, run one statement in a transaction,
commit and answer a body the size of a case's. What a lifecycle request of tongban costs
beyond this is tongban's own work; three of these make the ceiling of a lifecycle.

    uvicorn floor_app:app --app-dir bench   (TONGBAN_DATABASE_URL: the database)
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import create_engine, text

ENGINE = create_engine(os.environ["TONGBAN_DATABASE_URL"], pool_size=20, max_overflow=10)
BODY = b'{"padding":"' + b"x" * 3000 + b'"}'  # about a case detail's size
ONE = text("SELECT 1")

app = FastAPI()


class ActionIn(BaseModel):
    reason: str | None = None
    data: dict[str, Any] = {}


@app.get("/api/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/floor")
def floor(body: ActionIn) -> Response:
    with ENGINE.begin() as conn:
        conn.execute(ONE)
    return Response(BODY, media_type="application/json")
