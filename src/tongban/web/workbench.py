"""The 工作台 workbench for staff: queue, case page with actions, one-window intake."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tongban.web.render import WebRoute
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])
