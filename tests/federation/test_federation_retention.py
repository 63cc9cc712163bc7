"""数据回流 on every node: once a case handled for another region is closed and its result
has gone back and home, the handling node keeps the case record but not the foreign
applicant's form, files and envelope bodies; a receiving node drops a joint case's task
copies when the joint case is finished. A worker job does it; run twice, it does nothing
more."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.federation.harness import Federation, Node, b64
from tests.federation.test_federation_modes import (
    API,
    GJJ_SH,
    PDF,
    PENSION_IN_SH,
    PENSION_OUT_SC,
    _decide,
    act,
    code_of,
    complete,
    form,
    handling_case,
    view,
)
from tongban.audit.models import AuditEntry
from tongban.cases.blobs import blob_store
from tongban.cases.models import CaseMaterial
from tongban.federation import retention
from tongban.federation.models import CaseLink, ForwardedCase, InboxEnvelope
from tongban.node.root import wiring


def _own_pdf() -> bytes:
    """A file no other case of the session's shared nodes holds: a blob still used by
    another case is rightly kept, so the purge is only observable on a file of its own."""
    return PDF.replace(b"%%EOF", f"% {uuid.uuid4()}\n%%EOF".encode())


def _retain(node: Node) -> int:
    """One run of the node's retention job, in its own transaction, as the worker runs it."""
    job = wiring().jobs.get("federation.retention")
    with node.session() as s:
        return job.run(s, node.settings)


def test_the_handling_node_purges_the_foreign_applicants_data_once_the_case_is_closed(
        fed: Federation) -> None:
    own = _own_pdf()
    sent = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "form_data": form("zhangwei", GJJ_SH),
        "materials": [{"code": "application_form", "filename": "申请表.pdf",
                       "content_base64": b64(own)}]})
    assert sent.status_code == 201, sent.text
    fed.pump()
    number = view(fed.sc, sent.json()["id"], "zhangwei")["remote_case_number"]
    act(fed.sh, number, "clerk", "pre_review_pass")
    complete(fed.sh, number, own)
    act(fed.sh, number, "clerk", "accept")
    act(fed.sh, number, "reviewer", "approve")
    fed.pump()
    _retain(fed.sh)
    case = handling_case(fed.sh, number)
    assert case.form_data["id_number"]  # decided, not yet delivered: still needed here

    act(fed.sh, number, "clerk", "deliver", method="post", tracking_number="SF0000000001")
    fed.pump()
    with fed.sh.read() as s:
        files = list(s.scalars(select(CaseMaterial.sha256).where(
            CaseMaterial.case_id == case.id, CaseMaterial.sha256.is_not(None))))
    assert files and all(blob_store(fed.sh.settings).exists(d) for d in files)

    assert _retain(fed.sh) >= 1
    after = handling_case(fed.sh, number)
    assert after.form_data == {} and after.decision == "approved"  # the record stays
    assert after.state == "delivered" and after.number == number
    with fed.sh.read() as s:
        link = s.scalar(select(CaseLink).where(CaseLink.case_id == case.id))
        assert link is not None and link.purged_at is not None
        bodies = list(s.scalars(select(InboxEnvelope.token_enc).where(
            InboxEnvelope.case_ref == link.peer_case_ref)))
        assert bodies and all(b is None for b in bodies)
        (entry,) = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "federation.handled_purged",
            AuditEntry.entity_id == str(case.id)))
        assert "id_number" in entry.details["fields"]
    assert not any(blob_store(fed.sh.settings).exists(d) for d in files)
    before = link.purged_at
    assert retention.purge_handled(db_session=fed.sh.read(), settings=fed.sh.settings,
                                   now=before) == 0  # idempotent: nothing left to do


def test_a_finished_joint_cases_task_copies_are_purged_at_the_receiving_node(
        fed: Federation) -> None:
    body = {"kind": "pension_transfer", "name": "养老保险关系转移",
            "tasks": [{"implementation_code": code_of(fed.sc, PENSION_OUT_SC), "role": "转出地",
                       "form_data": form("zhangwei", PENSION_OUT_SC)},
                      {"implementation_code": code_of(fed.sc, PENSION_IN_SH), "role": "转入地",
                       "form_data": form("zhangwei", PENSION_IN_SH)}]}
    joint = fed.sc.client.post(f"{API}/joint-cases", headers=fed.sc.token("zhangwei"),
                               json=body).json()
    fed.pump()
    for task in joint["tasks"]:
        number = view(fed.sc, task["id"], "zhangwei")["remote_case_number"]
        _decide(fed[task["handling_region"]], number)
        fed.pump()
    ids = [uuid.UUID(t["id"]) for t in joint["tasks"]]
    with fed.sc.read() as s:
        copies = [s.get(ForwardedCase, i) for i in ids]
        assert all(c is not None and c.form_data and c.purged_at is None for c in copies)
    assert _retain(fed.sc) >= len(ids)
    with fed.sc.read() as s:
        for i in ids:
            copy = s.get(ForwardedCase, i)
            assert copy is not None and copy.form_data is None and copy.purged_at is not None
    assert _retain(fed.sc) == 0
