"""A forward across regions leaves no plain-text ID or mobile number in any node's files:
the receiving node's forwarded copy, the envelopes, the handling node's case and both
nodes' events are sealed at rest."""

from __future__ import annotations

import uuid

from tests.federation.harness import Federation, b64
from tests.federation.test_federation_modes import API, GJJ_SH, PDF, code_of, form
from tests.pii_scan import database_bytes, find_pii
from tongban.federation.models import ForwardedCase


def test_a_fully_online_forward_leaves_no_id_or_mobile_number_in_any_nodes_files(
        fed: Federation) -> None:
    sent = form("zhangwei", GJJ_SH, phone="13700001111")
    response = fed.sc.client.post(f"{API}/cases", headers=fed.sc.token("zhangwei"), json={
        "implementation_code": code_of(fed.sc, GJJ_SH), "mode": "fully_online",
        "form_data": sent, "materials": [{"code": "application_form",
                                          "filename": "申请表.pdf", "content_base64": b64(PDF)}]})
    assert response.status_code == 201, response.text
    fed.pump()
    with fed.sc.read() as s:  # the receiving node keeps its copy, readable through the node
        copy = s.get(ForwardedCase, uuid.UUID(response.json()["id"]))
        assert copy is not None and copy.form_data == sent
    number = fed.sc.client.get(f"{API}/cases/{response.json()['id']}",
                               headers=fed.sc.token("zhangwei")).json()["remote_case_number"]
    assert number  # and the handling node opened the case
    for node in fed.nodes.values():
        leaked = find_pii(database_bytes(node.engine))
        assert leaked == {"id_numbers": set(), "mobiles": set()}, node.name
