"""UI strings in Chinese (the key) and English; the UI speaks Chinese first.

Every string the UI shows is written in templates and routes as `_("中文")`; this table
gives its English. A test checks that every `_("…")` in the templates and the web code
has an entry here, so nothing shows up half-translated.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "lang"

EN: dict[str, str] = {
    # layout
    "通办": "Tongban",
    "一网通办 政务服务": "One-network government services",
    "办事大厅": "Service hall",
    "工作台": "Workbench",
    "一窗受理": "One window",
    "我的办件": "My cases",
    "我的证照": "My licences",
    "证照核验": "Verify a licence",
    "登录": "Sign in",
    "退出": "Sign out",
    "跳到正文": "Skip to content",
    "主导航": "Main navigation",
    "地区": "Region",
    "切换地区": "Switch region",
    "切换": "Switch",
    "全部地区": "All regions",
    "语言": "Language",
    "您好": "Hello",
    "首页": "Home",
    "返回": "Back",
    "开源政务服务平台": "Open-source government services platform",
    # home and search
    "搜索事项": "Search services",
    "输入事项名称或拼音首字母，如 gjj": "Service name or pinyin initials, e.g. gjj",
    "搜索": "Search",
    "热门事项": "Popular services",
    "按人生事件": "By life event",
    "按部门": "By department",
    "搜索结果": "Search results",
    "共 {n} 项": "{n} found",
    "没有找到相关事项": "No matching services",
    "下一页": "Next page",
    "上一页": "Previous page",
    "部门": "Department",
    "事项类型": "Type",
    "办事指南": "Service guide",
    # guide
    "在线申请": "Apply online",
    "受理条件": "Conditions",
    "申请材料": "Materials",
    "材料名称": "Material",
    "要求": "Requirement",
    "必需": "Required",
    "可选": "Optional",
    "原件": "Original",
    "复印件": "Copy",
    "电子件": "Electronic",
    "份数": "Copies",
    "免提交": "No need to submit",
    "可容缺": "May be supplied later",
    "由电子证照自动获取": "Fetched from your e-licence",
    "由共享数据自动获取": "Fetched from shared data",
    "办理流程": "Steps",
    "办理时限": "Time limit",
    "法定时限": "Legal time limit",
    "承诺时限": "Promised time limit",
    "{n} 个工作日": "{n} working days",
    "即办件": "Decided on the spot",
    "承诺件": "Promised item",
    "收费标准": "Fees",
    "不收费": "Free of charge",
    "{amount} 元": "CNY {amount}",
    "办理形式": "How to apply",
    "窗口办理": "At a window",
    "网上办理": "Online",
    "掌上办理": "On mobile",
    "邮寄办理": "By post",
    "网上办理深度": "Online depth",
    "到现场次数": "Visits in person",
    "{n} 次": "{n} times",
    "跨域通办": "Cross-region handling",
    "全程网办": "Fully online",
    "异地代收代办": "Receive and forward",
    "多地联办": "Joint handling",
    "特别程序": "Special procedures",
    "设定依据": "Legal basis",
    "办理结果": "Result",
    "办理地点": "Where",
    "咨询电话": "Phone",
    "办理时间": "Office hours",
    "实施编码": "Implementation code",
    "服务对象": "Applicants",
    "自然人": "Person",
    "法人": "Enterprise",
    "该事项暂不支持在线申请": "This service cannot be applied for online",
    # login
    "用户名": "Username",
    "密码": "Password",
    "申请人、代办人和工作人员使用同一入口登录":
        "Applicants, agents and staff sign in here",
    "用户名或密码错误": "Wrong username or password",
    "请先登录": "Please sign in",
    "登录已过期，请重新登录，您的草稿已保存":
        "Your session expired; please sign in again. Your draft was saved.",
    # apply
    "申请": "Apply",
    "填写申请表": "Application form",
    "上传材料": "Upload materials",
    "确认提交": "Review and submit",
    "保存草稿": "Save draft",
    "下一步": "Next",
    "提交申请": "Submit application",
    "请修改标红的内容": "Please correct the fields marked in red",
    "此项为必填项": "This field is required",
    "请输入整数": "Please enter a whole number",
    "请输入数字": "Please enter a number",
    "请输入有效日期，格式 YYYY-MM-DD": "Please enter a valid date, YYYY-MM-DD",
    "格式不正确": "Invalid format",
    "至少 {n} 个字符": "At least {n} characters",
    "最多 {n} 个字符": "At most {n} characters",
    "不能小于 {n}": "Must be at least {n}",
    "不能大于 {n}": "Must be at most {n}",
    "请从列表中选择": "Please choose from the list",
    "必填": "required",
    "请选择": "Please choose",
    "是": "Yes",
    "否": "No",
    "草稿已保存": "Draft saved",
    "选择文件": "Choose file",
    "上传": "Upload",
    "已上传": "Uploaded",
    "未上传": "Not uploaded",
    "文件过大，最大 {mb} MB": "File too large; the limit is {mb} MB",
    "上传中…": "Uploading…",
    "上传失败": "Upload failed",
    "请核对以下信息": "Please check the details below",
    "修改": "Edit",
    "申请已提交": "Application submitted",
    "办件编号": "Case number",
    # cases
    "办件列表": "Cases",
    "事项": "Service",
    "状态": "Status",
    "提交时间": "Submitted",
    "截止日期": "Due",
    "暂定": "provisional",
    "暂无办件": "No cases yet",
    "办理进度": "Progress",
    "补正通知": "Supplement notices",
    "请补正以下材料": "Please supply the following",
    "提交补正": "Submit supplement",
    "撤回申请": "Withdraw application",
    "撤回原因": "Reason for withdrawal",
    "评价": "Rate",
    "服务评价": "Rating",
    "非常满意": "Very satisfied",
    "满意": "Satisfied",
    "基本满意": "Fairly satisfied",
    "不满意": "Dissatisfied",
    "非常不满意": "Very dissatisfied",
    "评价内容": "Comment",
    "提交评价": "Submit rating",
    "感谢您的评价": "Thank you for your rating",
    "您已评价": "You rated this case",
    "操作人": "By",
    "时间": "Time",
    "原因": "Reason",
    "表单信息": "Form data",
    "材料": "Materials",
    "预览": "Preview",
    "下载": "Download",
    # workbench
    "待办件": "Queue",
    "按截止日期排序": "Sort by due date",
    "筛选": "Filter",
    "全部": "All",
    "黄牌": "Yellow",
    "红牌": "Red",
    "正常": "On time",
    "预警": "Warning",
    "申请人": "Applicant",
    "可执行的操作": "Actions available now",
    "请填写原因（法律要求说明理由）": "Reason (required by law)",
    "补正材料清单": "Materials to supply",
    "其他说明": "Other notes",
    "承诺补齐日期": "Promised supply date",
    "延长工作日数": "Extra working days",
    "特别程序类型": "Special procedure",
    "确定": "Confirm",
    "办理历史": "History",
    "无权查看此办件": "You may not open this case",
    "身份证号码": "ID number",
    "查询": "Look up",
    "为申请人办理": "Apply on the applicant's behalf",
    "未找到此人": "No person with this ID number",
    "姓名": "Name",
    # licences
    "证照名称": "Licence",
    "证照标识": "Licence ID",
    "有效期": "Valid until",
    "下载 PDF": "Download PDF",
    "核验": "Verify",
    "输入证照标识或扫描二维码": "Enter the licence ID or scan its QR code",
    "证照有效": "Licence is valid",
    "证照无效": "Licence is not valid",
    "暂无证照": "No licences yet",
    # errors
    "出错了": "Something went wrong",
    "页面不存在": "Page not found",
    "无权访问": "Access denied",
    "功能建设中": "Coming soon",
}


def pick_lang(request: Request) -> str:
    """The language of this request: `?lang=` first, then the cookie, then Chinese."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    return DEFAULT_LANG


def translate(text: str, lang: str, **values: object) -> str:
    """The text in `lang` (Chinese is the key itself), with `{name}` values filled in."""
    out = EN.get(text, text) if lang == "en" else text
    return out.format(**values) if values else out


def translator(lang: str) -> Callable[..., str]:
    """A `_()` bound to one language, for templates and routes."""

    def _(text: str, **values: object) -> str:
        return translate(text, lang, **values)

    return _
