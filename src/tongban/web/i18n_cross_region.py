"""English for the portal's notes on items another node handles (web/elsewhere.py),
merged into i18n.EN."""

from __future__ import annotations

EN: dict[str, str] = {
    "该事项由{region}节点办理（全程网办）：申请将提交至办理地，进度、补正和撤回可在“我的办件”中办理。":
        "This service is handled by the {region} node (fully online): your application "
        "goes there; follow it, answer requests for more documents or withdraw it in My "
        "cases.",
    "该事项由{region}节点办理，不支持全程网办，请到窗口办理（异地代收代办）。":
        "This service is handled by the {region} node and cannot be applied for online "
        "from here: apply at a service window (receive and forward).",
    "办理地无法调用本地电子证照，请上传 {name} 原件扫描件":
        "The handling region cannot use this node's e-licences: upload a scan of the "
        "original {name}",
}
