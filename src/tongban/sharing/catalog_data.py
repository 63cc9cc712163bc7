"""The shipped sharing catalog: the base registries' datasets, their fields, sharing terms
and legal basis. `build_catalog(owners)` turns it into a catalog document
("tongban-sharing-catalog/1", docs/sharing.md) for the owner departments of a node.

Owners are named by department key (the demo catalog's keys: police, civil, ...; tax and
disability are added by the sharing demo); a node maps each key to a credit code.
"""

from __future__ import annotations

import copy
from typing import Any

from tongban.sharing.schemas import CATALOG_FORMAT

F = dict[str, Any]


def _f(name: str, label: str, type_: str = "string", **more: Any) -> F:
    return {"name": name, "label": label, "type": type_, **more}


ID = _f("id_number", "公民身份号码", "id_number", subject=True)
NAME = _f("name", "姓名", required=True)
USCC = _f("credit_code", "统一社会信用代码", "credit_code", subject=True)
SHARING_ACT = "《政务信息资源共享管理暂行办法》(国发〔2016〕51号)"

# code: (name, aliases, registry, owner key, subject kind, record key, frequency,
#        sharing type, conditions, legal basis, fields)
DATASETS: dict[str, tuple[str, list[str], str, str, str, str | None, str, str, str, str,
                          list[F]]] = {
    "population.household": (
        "户籍信息", ["人口库"], "population", "police", "person", None, "daily",
        "conditional", "用于办理政务服务事项时核验申请人身份与户籍,须经本人申请或依法履职",
        f"《中华人民共和国户口登记条例》; {SHARING_ACT}",
        [ID, NAME, _f("gender", "性别", "enum", values=["男", "女"]),
         _f("birth_date", "出生日期", "date"), _f("ethnicity", "民族"),
         _f("household_region", "户籍地行政区划", required=True),
         _f("household_address", "户籍地址", personal=True),
         _f("household_head", "是否户主", "boolean"), _f("relation_to_head", "与户主关系"),
         _f("household_size", "户内人数", "integer")]),
    "population.marriage": (
        "婚姻登记信息", [], "population", "civil", "person", None, "daily", "conditional",
        "用于办理与婚姻状况相关的事项,须经本人申请", "《婚姻登记条例》",
        [ID, NAME, _f("marital_status", "婚姻状况", "enum", required=True,
                      values=["未婚", "已婚", "离婚", "丧偶"]),
         _f("spouse_name", "配偶姓名", personal=True),
         _f("spouse_id_number", "配偶公民身份号码", "id_number"),
         _f("registered_on", "登记日期", "date"), _f("registry_office", "登记机关")]),
    "population.birth": (
        "出生医学证明信息", [], "population", "health", "person", "certificate_number",
        "daily", "conditional", "用于新生儿落户、参保等事项",
        "《中华人民共和国母婴保健法》第二十三条",
        [_f("id_number", "父亲或母亲公民身份号码", "id_number", subject=True),
         _f("certificate_number", "出生医学证明编号", required=True, personal=True),
         _f("child_name", "新生儿姓名", required=True, personal=True),
         _f("child_gender", "新生儿性别", "enum", values=["男", "女"]),
         _f("birth_date", "出生日期", "date", required=True),
         _f("birth_place", "出生地点"), _f("institution", "助产机构")]),
    "population.death": (
        "死亡医学证明信息", [], "population", "health", "person", None, "daily",
        "conditional", "用于户口注销、丧葬补助等事项",
        "《人口死亡信息登记管理规范(试行)》(国卫规划发〔2013〕57号)",
        [ID, NAME, _f("died_on", "死亡日期", "date", required=True),
         _f("place", "死亡地点"), _f("certificate_number", "证明编号", personal=True)]),
    "population.residence": (
        "居住登记信息", [], "population", "police", "person", None, "daily", "conditional",
        "用于居住证申领及以居住地为条件的事项", "《居住证暂行条例》",
        [ID, NAME, _f("residence_region", "居住地行政区划", required=True),
         _f("residence_address", "居住地址", personal=True),
         _f("registered_on", "登记日期", "date", required=True),
         _f("permit_number", "居住证号码", personal=True)]),
    "legal_entity.registration": (
        "企业登记信息", ["法人库"], "legal_entity", "market", "enterprise", None, "realtime",
        "unconditional", "",
        "《中华人民共和国市场主体登记管理条例》; 《企业信息公示暂行条例》",
        [USCC, _f("name", "企业名称", required=True),
         _f("entity_type", "企业类型", "enum",
            values=["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "个体工商户"]),
         _f("legal_representative", "法定代表人", required=True),
         _f("legal_representative_id", "法定代表人公民身份号码", "id_number"),
         _f("status", "登记状态", "enum", required=True,
            values=["存续", "在业", "吊销", "注销", "迁出"]),
         _f("industry", "行业代码(GB/T 4754)"), _f("registered_capital", "注册资本(万元)",
                                                  "decimal"),
         _f("established_on", "成立日期", "date"), _f("employees", "从业人数", "integer"),
         _f("address", "住所")]),
    "social_insurance.pension": (
        "社保参保信息", ["社会保险参保缴费信息"], "social_insurance", "hrss", "person", None,
        "monthly", "conditional", "用于办理社会保险及以参保为条件的事项",
        "《中华人民共和国社会保险法》第七十四条",
        [ID, NAME, _f("status", "参保状态", "enum", required=True,
                      values=["正常参保", "暂停缴费", "终止参保", "退休"]),
         _f("employer_credit_code", "参保单位统一社会信用代码", "credit_code"),
         _f("employer_name", "参保单位"), _f("start_month", "首次参保年月", "month"),
         _f("months_contributed", "累计缴费月数", "integer"),
         _f("monthly_base", "缴费基数(元)", "decimal"),
         _f("last_paid_month", "最近缴费年月", "month"),
         _f("retired_on", "退休日期", "date")]),
    "social_insurance.medical": (
        "医保参保信息", ["基本医疗保险参保信息"], "social_insurance", "medical", "person",
        None, "monthly", "conditional", "用于医疗保障事项", "《医疗保障基金使用监督管理条例》",
        [ID, NAME, _f("scheme", "参保险种", "enum", required=True,
                      values=["职工基本医疗保险", "城乡居民基本医疗保险"]),
         _f("status", "参保状态", "enum", required=True, values=["正常", "暂停", "终止"]),
         _f("start_month", "参保起始年月", "month"),
         _f("insured_region", "参保地行政区划")]),
    "housing_fund.deposit": (
        "住房公积金缴存信息", [], "housing_fund", "gjj", "person", None, "monthly",
        "conditional", "用于住房公积金业务及住房保障资格审核", "《住房公积金管理条例》",
        [ID, NAME, _f("account_number", "个人公积金账号", required=True, personal=True),
         _f("status", "账户状态", "enum", required=True, values=["正常", "封存", "销户"]),
         _f("employer_name", "缴存单位"), _f("monthly_deposit", "月缴存额(元)", "decimal"),
         _f("balance", "账户余额(元)", "decimal"), _f("opened_on", "开户日期", "date"),
         _f("last_paid_month", "最近缴存年月", "month"),
         _f("has_loan", "是否有未结清公积金贷款", "boolean")]),
    "credit.enterprise": (
        "企业信用记录", [], "credit", "reform", "enterprise", "record_number", "daily",
        "unconditional", "",
        "《国务院关于建立完善守信联合激励和失信联合惩戒制度加快推进社会诚信建设的指导意见》"
        "(国发〔2016〕33号)",
        [USCC, _f("record_number", "记录编号", required=True),
         _f("kind", "记录类型", "enum", required=True,
            values=["红名单", "黑名单", "信用承诺"]),
         _f("title", "事由", required=True), _f("issued_by", "认定部门"),
         _f("listed_on", "认定日期", "date", required=True),
         _f("commitment_state", "承诺履约状态", "enum", values=["履约中", "已履约", "未履约"]),
         _f("valid_until", "有效期至", "date")]),
    "credit.person": (
        "个人信用记录", [], "credit", "reform", "person", "record_number", "daily",
        "conditional", "用于以信用状况为条件的事项,限依法履职",
        "《国务院关于建立完善守信联合激励和失信联合惩戒制度加快推进社会诚信建设的指导意见》"
        "(国发〔2016〕33号)",
        [ID, NAME, _f("record_number", "记录编号", required=True),
         _f("kind", "记录类型", "enum", required=True,
            values=["红名单", "黑名单", "信用承诺"]),
         _f("title", "事由", required=True), _f("issued_by", "认定部门"),
         _f("listed_on", "认定日期", "date", required=True),
         _f("commitment_state", "承诺履约状态", "enum", values=["履约中", "已履约", "未履约"])]),
    "real_estate.property": (
        "不动产登记信息", [], "real_estate", "planning", "person", "certificate_number",
        "daily", "conditional", "依法查询,须说明查询目的", "《不动产登记暂行条例》第二十七条",
        [ID, NAME, _f("certificate_number", "不动产权证书号", required=True),
         _f("location", "坐落", required=True, personal=True),
         _f("region", "所在行政区划"), _f("area_m2", "建筑面积(平方米)", "decimal"),
         _f("use", "用途", "enum", values=["住宅", "商业", "办公", "工业", "其他"]),
         _f("ownership", "共有情况", "enum", values=["单独所有", "共同共有", "按份共有"]),
         _f("registered_on", "登簿日期", "date"), _f("mortgaged", "是否抵押", "boolean")]),
    "vehicle.registration": (
        "机动车登记信息", [], "vehicle", "traffic", "person", "plate_number", "daily",
        "conditional", "用于以车辆状况为条件的事项", "《机动车登记规定》(公安部令第164号)",
        [ID, NAME, _f("plate_number", "号牌号码", required=True, personal=True),
         _f("vehicle_type", "车辆类型", "enum", values=["小型汽车", "大型汽车", "摩托车",
                                                       "新能源小型汽车"]),
         _f("brand", "品牌型号"), _f("registered_on", "初次登记日期", "date"),
         _f("status", "机动车状态", "enum", values=["正常", "抵押", "查封", "注销"])]),
    "vehicle.driver_health": (
        "驾驶人体检信息", [], "vehicle", "traffic", "person", None, "daily", "conditional",
        "用于驾驶证业务", "《机动车驾驶证申领和使用规定》(公安部令第162号)",
        [ID, NAME, _f("exam_date", "体检日期", "date", required=True),
         _f("result", "体检结论", "enum", required=True, values=["合格", "不合格"]),
         _f("hospital", "体检医疗机构")]),
    "income_tax.annual": (
        "个人所得税年度收入信息", [], "income_tax", "tax", "person", "year", "yearly",
        "conditional", "用于社会救助、住房保障等家庭经济状况核对,须经本人授权",
        "《中华人民共和国个人所得税法》; 《社会救助暂行办法》第六十条",
        [ID, NAME, _f("year", "纳税年度", "integer", required=True),
         _f("annual_income", "年度综合所得收入额(元)", "decimal", required=True),
         _f("tax_paid", "已缴税额(元)", "decimal"), _f("withholder", "主要扣缴义务人")]),
    "income_tax.clearance": (
        "清税信息", [], "income_tax", "tax", "enterprise", None, "daily", "conditional",
        "用于企业注销登记", "《中华人民共和国税收征收管理法》第十六条",
        [USCC, _f("name", "纳税人名称", required=True),
         _f("cleared", "是否已清税", "boolean", required=True),
         _f("cleared_on", "清税日期", "date"), _f("tax_office", "主管税务机关")]),
    "income_tax.returns": (
        "个人所得税申报明细", [], "income_tax", "tax", "person", "year", "yearly",
        "not_shared", "涉及纳税人隐私,不予共享", "《中华人民共和国税收征收管理法》第八条",
        [ID, NAME, _f("year", "纳税年度", "integer", required=True),
         _f("details", "申报明细", personal=True)]),
    "disability.certificate": (
        "残疾人证信息", [], "disability", "disability", "person", None, "monthly",
        "conditional", "用于残疾人福利与救助事项", "《残疾人证管理办法》(残联发〔2017〕29号)",
        [ID, NAME, _f("certificate_number", "残疾人证号", required=True, personal=True),
         _f("category", "残疾类别", "enum", required=True,
            values=["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]),
         _f("grade", "残疾等级", "enum", required=True, values=["一级", "二级", "三级", "四级"]),
         _f("issued_on", "发证日期", "date"), _f("valid_until", "有效期至", "date")]),
    "civil_assistance.recipient": (
        "社会救助对象信息", [], "civil_assistance", "civil", "person", "assistance_type",
        "monthly", "conditional", "用于社会救助及相关减免事项", "《社会救助暂行办法》",
        [ID, NAME, _f("assistance_type", "救助类型", "enum", required=True,
                      values=["最低生活保障", "特困人员供养", "临时救助", "低保边缘"]),
         _f("status", "救助状态", "enum", required=True, values=["在保", "停保"]),
         _f("monthly_amount", "月救助金额(元)", "decimal"),
         _f("household_size", "保障人数", "integer"), _f("since", "起始日期", "date"),
         _f("region", "救助地行政区划")]),
}


def build_catalog(owners: dict[str, str]) -> dict[str, Any]:
    """The catalog document with each owner key replaced by the owner's credit code."""
    datasets = []
    for code, (name, aliases, registry, owner, kind, record_key, frequency, sharing,
               conditions, basis, fields) in DATASETS.items():
        datasets.append({
            "code": code, "name": name, "aliases": aliases, "base_registry": registry,
            "owner_credit_code": owners[owner], "subject_kind": kind,
            "record_key": record_key, "update_frequency": frequency, "sharing_type": sharing,
            "sharing_conditions": conditions, "legal_basis": basis,
            "fields": copy.deepcopy(fields)})
    return {"format": CATALOG_FORMAT, "datasets": datasets}
