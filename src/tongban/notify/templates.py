"""What each kind of notification says, in Chinese first and English second.

A kind is a row of `TEMPLATES`: title and body per language, the portal link, and the
defaults of its optional parameters. Every placeholder a template names must be given by
the caller (or default), so a message never goes out with a hole in it; an unknown kind
or a missing parameter is refused when the notification is written, in the caller's
transaction, not when the worker tries to send it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from tongban.errors import InvalidInput

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Template:
    title: dict[str, str]
    body: dict[str, str]
    link: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    label: dict[str, str] = field(default_factory=dict)  # the kind's name on preference pages

    def placeholders(self) -> set[str]:
        texts = [*self.title.values(), *self.body.values(), self.link or ""]
        return {name for text in texts for _lit, name, _spec, _conv in
                string.Formatter().parse(text) if name}


def _t(label_zh: str, label_en: str, title_zh: str, title_en: str, body_zh: str,
       body_en: str, link: str | None = None, **defaults: str) -> Template:
    return Template(title={"zh": title_zh, "en": title_en}, body={"zh": body_zh, "en": body_en},
                    link=link, defaults=defaults, label={"zh": label_zh, "en": label_en})


CASE_LINK = "/my/cases/{case_number}"

TEMPLATES: dict[str, Template] = {
    "case.supplement_requested": _t(
        "补正通知", "Supplement requested",
        "办件 {case_number} 需要补正材料", "Case {case_number}: please supply materials",
        "您申请的「{item_name}」（办件号 {case_number}）需要一次性补正材料。{reason}"
        "请登录办事大厅查看补正告知书并补齐材料。",
        "Your application for {item_name} (case {case_number}) needs more materials. "
        "{reason} Please see the supplement notice on the portal.",
        CASE_LINK, reason=""),
    "case.accepted": _t(
        "受理通知", "Application accepted",
        "办件 {case_number} 已受理", "Case {case_number} accepted",
        "您申请的「{item_name}」已受理，办件号 {case_number}。{due}",
        "Your application for {item_name} was accepted as case {case_number}. {due_en}",
        CASE_LINK, due="", due_en=""),
    "case.decided": _t(
        "办理结果", "Decision",
        "办件 {case_number} 已办结：{outcome}", "Case {case_number} decided: {outcome_en}",
        "您申请的「{item_name}」（办件号 {case_number}）办理结果：{outcome}。{reason}",
        "Your application for {item_name} (case {case_number}) was decided: {outcome_en}. "
        "{reason}",
        CASE_LINK, reason=""),
    "licence.issued": _t(
        "电子证照签发", "E-licence issued",
        "您的电子证照「{licence_name}」已签发", "Your e-licence {licence_name} was issued",
        "电子证照「{licence_name}」（证照标识 {identifier}）已签发，可在「我的证照」查看和下载。",
        "Your e-licence {licence_name} ({identifier}) was issued; see My licences.",
        "/my/licences/{identifier}"),
    "licence.revoked": _t(
        "电子证照撤销", "E-licence revoked",
        "您的电子证照「{licence_name}」已失效", "Your e-licence {licence_name} is no longer valid",
        "电子证照「{licence_name}」（证照标识 {identifier}）状态已变更为：{status}。{reason}",
        "Your e-licence {licence_name} ({identifier}) is now: {status_en}. {reason}",
        "/my/licences/{identifier}", reason=""),
    "policy.qualified": _t(
        "政策推送", "Policies you qualify for",
        "您可能符合「{policy_name}」的条件", "You may qualify for {policy_name}",
        "根据共享数据核对，您可能符合「{policy_name}」的条件。{detail}",
        "Checked against shared data, you may qualify for {policy_name}. {detail_en}",
        "{page}", detail="", detail_en="", page="/my/notifications"),
    "complaint.answered": _t(
        "投诉答复", "Complaint answered",
        "您的投诉 {complaint_number} 已答复", "Your complaint {complaint_number} was answered",
        "您提交的投诉（编号 {complaint_number}）已有答复，请登录查看。{summary}",
        "Your complaint {complaint_number} has an answer; please sign in to read it. "
        "{summary_en}",
        "{page}", summary="", summary_en="", page="/my/notifications"),
    # --- to staff (tongban.supervision.notices) ---
    "supervision.warning_escalated": _t(
        "办件预警上报", "Case warning escalated",
        "办件 {case_number} {level}预警已上报", "Case {case_number}: {level_en} warning escalated",
        "「{item_name}」（办件号 {case_number}）{level}预警持续未消除，已上报{audience}，"
        "请督促办理。", "{item_name} (case {case_number}) has held a {level_en} warning and was "
        "escalated to {audience_en}; please see that it is handled.",
        "{page}", page="/supervision/queue"),
    "supervision.order_issued": _t(
        "督办通知", "Supervision order",
        "办件 {case_number} 收到{kind}", "Case {case_number}: {kind_en} order",
        "监督人员对办件 {case_number}（「{item_name}」）下达{kind}，请于 {due} 前答复。",
        "A supervisor issued a {kind_en} order on case {case_number} ({item_name}); "
        "answer by {due}.", "/workbench/orders"),
    "supervision.order_answered": _t(
        "督办答复", "Order answered",
        "办件 {case_number} 的{kind}已答复", "Case {case_number}: {kind_en} order answered",
        "承办部门已答复办件 {case_number} 的{kind}，请确认办结或退回重办。",
        "The department answered the {kind_en} order on case {case_number}; close it or "
        "send it back.", "/supervision/cases/{case_number}/orders"),
    "supervision.complaint_routed": _t(
        "12345工单派单", "12345 ticket assigned",
        "12345工单 {complaint_number} 待办理", "12345 ticket {complaint_number} to handle",
        "12345工单 {complaint_number}（{category}）已派至本部门，请于 {due} 前办理答复。",
        "12345 ticket {complaint_number} ({category_en}) was assigned to your department; "
        "reply by {due}.", "/workbench/complaints/{complaint_number}", category_en=""),
    "supervision.rating_visit_due": _t(
        "差评回访", "Bad rating: return visit due",
        "办件 {case_number} 收到差评，请回访核实", "Case {case_number}: bad rating to visit",
        "办件 {case_number}（「{item_name}」）收到「{level}」评价，"
        "请于 {visit_due} 前完成回访核实。",
        "Case {case_number} ({item_name}) was rated {level_en}; make the return visit by "
        "{visit_due}.", "/workbench/ratings/{rating_id}"),
    "notify.test": _t(
        "测试消息", "Test message",
        "测试消息", "Test message",
        "这是一条来自 {node_name} 的测试消息。", "This is a test message from {node_name}.",
        None, node_name="tongban"),
}


def template(kind: str) -> Template:
    """The template of `kind`; an unknown kind is the caller's error."""
    found = TEMPLATES.get(kind)
    if found is None:
        raise InvalidInput("未知的消息类型 / unknown notification kind", code="unknown_kind",
                           details={"kind": kind, "known": sorted(TEMPLATES)})
    return found


def render(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Title, body (per language) and link of a message of `kind` with `params`."""
    tpl = template(kind)
    values = {**tpl.defaults, **{k: "" if v is None else str(v) for k, v in params.items()}}
    missing = sorted(tpl.placeholders() - set(values))
    if missing:
        raise InvalidInput("消息参数不全 / notification parameters missing",
                           code="missing_params", details={"kind": kind, "missing": missing})
    return {
        "title": {lang: tpl.title[lang].format_map(values).strip() for lang in LANGUAGES},
        "body": {lang: " ".join(tpl.body[lang].format_map(values).split())
                 for lang in LANGUAGES},
        "link": tpl.link.format_map(values) if tpl.link else None,
    }
