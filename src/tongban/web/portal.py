"""The 办事大厅 portal: home, search and guides (apply and my cases: apply.py, mine.py)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.errors import InvalidInput
from tongban.web import catalog_view
from tongban.web.elsewhere import handled_elsewhere
from tongban.web.render import WebRoute, page, web_db
from tongban.web.routes import web_context

router = APIRouter(route_class=WebRoute, include_in_schema=False,
                   dependencies=[Depends(web_context)])

PAGE_SIZE = 20
POPULAR = 6

# Guide codes → the Chinese label shown (translated like every UI string).
HANDLING_FORMS = {"window": "窗口办理", "online": "网上办理", "mobile": "掌上办理",
                  "post": "邮寄办理"}
CROSS_REGION_MODES = {"fully_online": "全程网办", "receive_and_forward": "异地代收代办",
                      "joint": "多地联办"}
MATERIAL_FORMS = {"original": "原件", "copy": "复印件", "electronic": "电子件"}
APPLICANT_TYPES = {"person": "自然人", "enterprise": "法人"}
ONLINE_DEPTH = {1: "信息公开", 2: "在线咨询/表格下载", 3: "在线预审", 4: "全程网办"}
# What the guide says of a material that need not be uploaded in some case: one covered
# by the applicant's own valid e-licence, or one the applicant may have fetched from a
# registry (shown to them first; they may upload instead).
NO_SUBMIT_SOURCES = {"licence": "持有效电子证照的免于提交，否则请上传"}
SHARED_SOURCES = {"shared_data": "申请时可从共享数据获取并预览（免提交），也可上传本材料"}


def _region_code(request: Request) -> str | None:
    region = getattr(request.state, "region", None)
    return region.code if region else None


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: Session = Depends(web_db)) -> Response:
    """Home: search box, popular items, browse by life event and by department."""
    region_code = _region_code(request)
    popular = catalog.search(db_session=db, q=None, region_code=region_code, limit=POPULAR)
    departments, _ = catalog.list_departments(db_session=db, region_code=region_code,
                                              limit=24)
    return page(request, "portal/home.html", {
        "popular": popular.items, "topics": catalog_view.topics(db_session=db),
        "departments": departments,
    })


def _department_id(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidInput("部门参数无效 / invalid department",
                           details={"field": "department"}) from None


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, q: str = "", topic: str = "", department: str = "",
           cursor: str | None = None, db: Session = Depends(web_db)) -> Response:
    """Search results: Chinese, full pinyin or initials (`gjj`), in the chosen region."""
    query = " ".join(part for part in (q.strip(), topic.strip()) if part)
    results = catalog.search(db_session=db, q=query or None,
                             region_code=_region_code(request),
                             department_id=_department_id(department),
                             limit=PAGE_SIZE, cursor=cursor or None)
    return page(request, "portal/search.html", {
        "q": q, "topic": topic, "department": department, "results": results.items,
        "next_cursor": results.next_cursor,
    })


@router.get("/guide/{implementation_code}", response_class=HTMLResponse)
def guide(request: Request, implementation_code: str,
          db: Session = Depends(web_db)) -> Response:
    """The 办事指南 of one implementation, with the 在线申请 button."""
    guide_page = catalog.guide(db_session=db, implementation_code=implementation_code)
    online = bool({"online", "mobile"} & set(guide_page.guide.handling_forms))
    elsewhere = handled_elsewhere(db_session=db, settings=request.app.state.settings,
                                  guide_page=guide_page)
    return page(request, "portal/guide.html", {
        "g": guide_page, "guide": guide_page.guide, "online": online, "elsewhere": elsewhere,
        "HANDLING_FORMS": HANDLING_FORMS, "CROSS_REGION_MODES": CROSS_REGION_MODES,
        "MATERIAL_FORMS": MATERIAL_FORMS, "APPLICANT_TYPES": APPLICANT_TYPES,
        "ONLINE_DEPTH": ONLINE_DEPTH, "NO_SUBMIT_SOURCES": NO_SUBMIT_SOURCES,
        "SHARED_SOURCES": SHARED_SOURCES,
    })
