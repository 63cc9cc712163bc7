"""HTTP routes of the identity domain (thin: validate, call the service, map errors)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["identity"])
