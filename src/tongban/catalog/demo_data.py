"""The demo catalog: standard items, departments and implementations in six cities.

`build_demo_catalog()` returns one exchange document (docs/catalog-format.md,
"tongban-catalog/1") that `tongban catalog import` or the demo seed loads. Everything is
derived from the tables below, deterministically (hashes, never random numbers), so two
builds are equal and a test can hold the data to its rules.

Codes
-----
基本编码 (12 characters), our demo scheme, modelled on GB/T 39554.1 and the local
standards it replaced (the national clauses are not public):

    00  SS  TT  MMM  NNN
    |   |   |   |    +-- sub-item (办理项), 000 when the item has none
    |   |   |   +------- main item number within the sector
    |   |   +----------- item type: 01 行政许可 02 行政确认 03 行政裁决 04 行政给付
    |   |                05 行政奖励 06 行政备案 07 其他行政权力 08 公共服务
    |   +--------------- sector (业务指导部门), see SECTORS
    +------------------- 00 = national standard catalog (a province's own items would
                         carry its 2-digit province code here)

e.g. 000108005001 = national, 住房公积金 (01), 公共服务 (08), item 005 提取, sub-item 001
购房提取. 实施编码 = the department's 统一社会信用代码 + level digit + 基本编码.

Departments get valid credit codes from `identity.ids.make_uscc`: registration department
1 (机构编制), category 1 (机关) or 2 (事业单位: the 公积金 centres), the department's region
code and an 8-character organisation body hashed from region and kind.

Regions: the six cities implement the city-level items; 上海 and 重庆 are 直辖市, so their
municipal bodies sit at the province-level codes 310000 / 500000 with level 2. One district
per city implements the county-level items. Addresses and phone numbers are fictional.

LOCAL_DIFFERENCES are the deliberate local differences from the standard guide. Nothing
here says what the diff finds: `catalog.demo_standard` seeds each item's standard guide
(`build_standard_guide`) and lets the standardisation code compute the differences; those
with a legal basis and an approver below are declared (统异弹性空间) through the same
service a catalog admin uses, the others stay undeclared (待整改).
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from tongban.identity.ids import make_uscc

FORMAT = "tongban-catalog/1"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# ---------------------------------------------------------------- regions


class DemoRegion(NamedTuple):
    code: str
    name: str  # the name used in department names, e.g. 成都市 / 成都市锦江区
    short: str  # in implementation names, e.g. 成都 / 锦江区
    level: int
    area_code: str
    address: str
    hours: str


CITIES = (
    DemoRegion("510100", "成都市", "成都", 3, "028",
               "成都市高新区天府大道北段966号 成都市政务服务中心",
               "工作日 9:00-12:00, 13:30-17:30(周六上午延时服务)"),
    DemoRegion("500000", "重庆市", "重庆", 2, "023",
               "重庆市渝北区星光大道88号 重庆市政务服务中心",
               "工作日 9:00-12:00, 14:00-17:30"),
    DemoRegion("310000", "上海市", "上海", 2, "021",
               "上海市黄浦区西藏中路168号 上海市政务服务中心",
               "周一至周五 9:00-17:00, 周六 9:00-12:00"),
    DemoRegion("320100", "南京市", "南京", 3, "025",
               "南京市建邺区江东中路201号 南京市政务服务中心",
               "工作日 9:00-12:00, 13:30-17:00"),
    DemoRegion("330100", "杭州市", "杭州", 3, "0571",
               "杭州市上城区解放东路20号 杭州市民之家政务服务大厅",
               "工作日 8:45-12:00, 13:30-17:00(午间不打烊)"),
    DemoRegion("340100", "合肥市", "合肥", 3, "0551",
               "合肥市政务区怀宁路1688号 合肥市政务服务中心",
               "工作日 9:00-12:00, 13:00-17:00"),
)
# (region, its city, the district as police branch names spell it: 锦江区分局, 浦东分局)
COUNTIES = (
    (DemoRegion("510104", "成都市锦江区", "锦江区", 4, "028",
                "成都市锦江区东大街下东大街段199号 锦江区政务服务中心",
                "工作日 9:00-12:00, 13:30-17:30"), "510100", "锦江区"),
    (DemoRegion("500103", "重庆市渝中区", "渝中区", 4, "023",
                "重庆市渝中区中山三路128号 渝中区政务服务中心",
                "工作日 9:00-12:00, 14:00-17:30"), "500000", "渝中区"),
    (DemoRegion("310115", "上海市浦东新区", "浦东新区", 4, "021",
                "上海市浦东新区世纪大道2001号 浦东新区企业服务中心/市民中心",
                "周一至周五 9:00-17:00, 周六 9:00-12:00"), "310000", "浦东"),
    (DemoRegion("320102", "南京市玄武区", "玄武区", 4, "025",
                "南京市玄武区北京东路39号 玄武区政务服务中心",
                "工作日 9:00-12:00, 13:30-17:00"), "320100", "玄武"),
    (DemoRegion("330102", "杭州市上城区", "上城区", 4, "0571",
                "杭州市上城区江锦路150号 上城区政务服务中心",
                "工作日 8:45-12:00, 13:30-17:00"), "330100", "上城区"),
    (DemoRegion("340104", "合肥市蜀山区", "蜀山区", 4, "0551",
                "合肥市蜀山区长江西路299号 蜀山区政务服务中心",
                "工作日 9:00-12:00, 13:00-17:00"), "340100", "蜀山"),
)
CITY_BY_CODE = {r.code: r for r in CITIES}

# ---------------------------------------------------------------- departments

# key: (kind, name at city level, name at district level or "" if none, USCC category)
DEPARTMENT_KINDS: dict[str, tuple[str, str, str, str]] = {
    "gjj": ("住房公积金管理中心", "{short}住房公积金管理中心", "", "2"),
    "hrss": ("人力资源和社会保障", "{city}人力资源和社会保障局",
             "{county}人力资源和社会保障局", "1"),
    "police": ("公安", "{city}公安局", "{city}公安局{dshort}分局", "1"),
    "traffic": ("公安", "{city}公安局交通管理局", "", "1"),
    "market": ("市场监管", "{city}市场监督管理局", "{county}市场监督管理局", "1"),
    "health": ("卫生健康", "{city}卫生健康委员会", "{county}卫生健康局", "1"),
    "civil": ("民政", "{city}民政局", "{county}民政局", "1"),
    "medical": ("医疗保障", "{city}医疗保障局", "{county}医疗保障局", "1"),
    "transport": ("交通运输", "{city}交通运输局", "", "1"),
    "housing": ("住房和城乡建设", "{city}住房和城乡建设局", "", "1"),
    "planning": ("规划和自然资源", "{city}规划和自然资源局", "", "1"),
    "ecology": ("生态环境", "{city}生态环境局", "", "1"),
    "industry": ("经济和信息化", "{city}经济和信息化局", "", "1"),
    "reform": ("发展改革", "{city}发展和改革委员会", "", "1"),
    "service": ("政务服务管理", "{city}政务服务管理局", "{county}政务服务管理局", "1"),
}
# Real names that do not follow the pattern.
DEPARTMENT_NAMES = {
    ("310000", "gjj"): "上海市公积金管理中心",
    ("500000", "gjj"): "重庆市住房公积金管理中心",
    ("310000", "traffic"): "上海市公安局交通警察总队",
    ("500000", "traffic"): "重庆市公安局交通巡逻警察总队",
    ("330100", "traffic"): "杭州市公安局交通警察支队",
    ("340100", "traffic"): "合肥市公安局交通警察支队",
    ("310000", "transport"): "上海市交通委员会",
    ("500000", "transport"): "重庆市交通运输委员会",
    ("310000", "housing"): "上海市住房和城乡建设管理委员会",
    ("500000", "housing"): "重庆市住房和城乡建设委员会",
    ("340100", "planning"): "合肥市自然资源和规划局",
    ("310000", "industry"): "上海市经济和信息化委员会",
    ("500000", "industry"): "重庆市经济和信息化委员会",
    ("320100", "industry"): "南京市工业和信息化局",
    ("510100", "service"): "成都市政务服务管理和网络理政办公室",
    ("310000", "service"): "上海市政务服务办公室",
    ("310115", "health"): "上海市浦东新区卫生健康委员会",
}
# Consultation hotlines that are national numbers.
HOTLINES = {"gjj": "12329", "hrss": "12333", "medical": "12393"}


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("|".join(parts).encode()).digest()


def org_body(region_code: str, key: str) -> str:
    """A deterministic 8-character organisation-code body (`MB` + 6), as new bodies get."""
    digest = _digest("org", region_code, key)
    return "MB" + "".join(USCC_CHARS[b % len(USCC_CHARS)] for b in digest[:6])


def department_name(region: DemoRegion, key: str, city: DemoRegion, dshort: str) -> str:
    """The department's real-style name in `region` (a city or one of its districts)."""
    if (region.code, key) in DEPARTMENT_NAMES:
        return DEPARTMENT_NAMES[(region.code, key)]
    _, city_tpl, county_tpl, _ = DEPARTMENT_KINDS[key]
    template = city_tpl if region is city else county_tpl
    return template.format(city=city.name, short=city.short, county=region.name, dshort=dshort)


def build_departments() -> dict[tuple[str, str], dict[str, Any]]:
    """Every demo department, keyed by (region code, department key)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    places = [(c, c, "") for c in CITIES] + [(r, CITY_BY_CODE[c], d) for r, c, d in COUNTIES]
    for region, city, dshort in places:
        for key, (kind, _, county_tpl, category) in DEPARTMENT_KINDS.items():
            if region is not city and not county_tpl:
                continue
            out[(region.code, key)] = {
                "name": department_name(region, key, city, dshort),
                "region_code": region.code,
                "credit_code": make_uscc("1", category, region.code, org_body(region.code, key)),
                "kind": kind,
                "level": region.level,
            }
    return out


# ---------------------------------------------------------------- materials

# key: (name, source, licence type or dataset, form, key material, 容缺 allowed, note)
MATERIALS: dict[str, tuple[str, str, str, str, bool, bool, str]] = {
    "id_card": ("居民身份证", "licence", "居民身份证", "electronic", True, False,
                "已关联电子证照的免于提交"),
    "hukou_book": ("居民户口簿", "licence", "居民户口簿", "electronic", True, False, ""),
    "photo": ("近期免冠白底彩色证件照片", "upload", "", "electronic", False, False,
              "可在窗口现场采集或上传符合标准的数码照片回执"),
    "biz_licence": ("营业执照", "licence", "营业执照", "electronic", True, False, ""),
    "entity_info": ("企业登记信息", "shared_data", "法人库", "electronic", False, False,
                    "系统自动核验,免于提交"),
    "population": ("户籍信息", "shared_data", "人口库", "electronic", False, False,
                   "系统自动核验,免于提交"),
    "insured": ("社会保险参保缴费信息", "shared_data", "社保参保信息", "electronic", False,
                False, "系统自动核验,免于提交"),
    "medical_insured": ("基本医疗保险参保信息", "shared_data", "医保参保信息", "electronic",
                        False, False, "系统自动核验,免于提交"),
    "gjj_info": ("住房公积金缴存信息", "shared_data", "住房公积金缴存信息", "electronic",
                 False, False, "系统自动核验,免于提交"),
    "gjj_proof": ("住房公积金缴存证明", "licence", "住房公积金缴存证明", "electronic", True,
                  False, "异地缴存的提供缴存地出具的证明"),
    "property_cert": ("不动产权证书", "licence", "不动产权证书", "electronic", True, False, ""),
    "property_info": ("不动产登记信息", "shared_data", "不动产登记信息", "electronic", False,
                      False, "系统自动核验,免于提交"),
    "purchase_contract": ("购房合同及购房款支付凭证", "upload", "", "copy", True, False, ""),
    "lease_contract": ("房屋租赁合同", "upload", "", "copy", False, False,
                       "已办理租赁登记备案的可免于提交"),
    "lease_registration": ("房屋租赁登记备案证明", "upload", "", "copy", False, False, ""),
    "marriage_cert": ("结婚证", "licence", "结婚证", "electronic", False, False,
                      "已婚的提供"),
    "marriage_info": ("婚姻登记信息", "shared_data", "婚姻登记信息", "electronic", False,
                      False, "系统自动核验,免于提交"),
    "birth_cert": ("出生医学证明", "licence", "出生医学证明", "electronic", True, False, ""),
    "residence_permit": ("居住证", "licence", "居住证", "electronic", False, False,
                         "持居住证在居住地办理的提供"),
    "social_card": ("社会保障卡", "licence", "社会保障卡", "electronic", False, False, ""),
    "driving_licence": ("机动车驾驶证", "licence", "机动车驾驶证", "electronic", True, False, ""),
    "vehicle_licence": ("机动车行驶证", "licence", "机动车行驶证", "electronic", True, False,
                        ""),
    "driver_health": ("机动车驾驶人身体条件证明", "shared_data", "驾驶人体检信息",
                      "electronic", True, False, "由医疗机构上传,免于提交纸质证明"),
    "retirement_info": ("离休、退休审批信息", "shared_data", "社保参保信息", "electronic",
                        True, False, "系统自动核验,免于提交"),
    "loan_contract": ("住房贷款借款合同", "upload", "", "copy", True, False, ""),
    "bank_card": ("本人名下借记卡", "upload", "", "copy", False, False,
                  "也可使用具有金融功能的社会保障卡"),
    "emigration_proof": ("出境定居证明或户口注销证明", "upload", "", "original", True, False,
                         ""),
    "disability_proof": ("劳动能力鉴定结论书", "upload", "", "original", True, False, ""),
    "termination_proof": ("解除或者终止劳动关系证明", "upload", "", "original", True, False,
                          ""),
    "articles": ("公司章程", "upload", "", "electronic", True, False,
                 "可使用登记机关提供的章程示范文本"),
    "address_proof": ("住所(经营场所)使用证明", "upload", "", "copy", True, False,
                      "自有房屋提供不动产权证书,租赁房屋提供租赁合同"),
    "officers": ("法定代表人、董事、监事和经理的任职文件", "upload", "", "electronic",
                 False, False, ""),
    "shareholders": ("股东的主体资格证明或者自然人身份证明", "upload", "", "electronic",
                     True, False, ""),
    "name_notice": ("企业名称自主申报告知书", "upload", "", "electronic", False, False,
                    "网上申报名称后自动生成"),
    "resolution": ("股东会决议或股东决定", "upload", "", "electronic", True, False, ""),
    "liquidation": ("清算报告", "upload", "", "electronic", True, False, ""),
    "tax_clearance": ("清税信息", "shared_data", "清税信息", "electronic", True, False,
                      "税务部门推送,免于提交"),
    "commitment": ("全体投资人承诺书", "upload", "", "original", True, False, ""),
    "food_layout": ("经营场所平面图和设备布局、操作流程等文件", "upload", "", "electronic",
                    False, True, ""),
    "food_rules": ("食品安全自查、从业人员健康管理等保证食品安全的规章制度", "upload", "",
                   "electronic", False, True, ""),
    "food_staff": ("食品安全管理人员名单及专业知识考核情况", "upload", "", "electronic",
                   False, True, ""),
    "pharmacist": ("执业药师注册证", "licence", "执业药师注册证", "electronic", True, False,
                   ""),
    "drug_quality": ("药品质量管理制度文件目录", "upload", "", "electronic", False, True, ""),
    "drug_premises": ("经营场所、仓库平面布置图及使用证明", "upload", "", "copy", True,
                      False, ""),
    "device_quality": ("经营场所、库房使用证明及质量管理制度", "upload", "", "electronic",
                       True, False, ""),
    "land_plan": ("建设用地规划许可证", "licence", "建设用地规划许可证", "electronic", True,
                  False, "或不动产权证书(土地)"),
    "design_scheme": ("建设工程设计方案(总平面图、单体建筑方案)", "upload", "", "electronic",
                      True, False, ""),
    "plan_permit": ("建设工程规划许可证", "licence", "建设工程规划许可证", "electronic", True,
                    False, ""),
    "construction_contract": ("施工合同及中标通知书", "upload", "", "electronic", True, False,
                              ""),
    "drawing_review": ("施工图设计文件审查合格书", "upload", "", "electronic", False, True,
                       "实行告知承诺的可在开工前补交"),
    "safety_measures": ("保证工程质量和安全的具体措施", "upload", "", "electronic", False,
                        True, ""),
    "fund_commitment": ("建设资金已经落实承诺书", "upload", "", "original", True, False, ""),
    "quality_supervision": ("建设工程质量安全监督登记表", "upload", "", "original", False,
                            False, ""),
    "safety_rules": ("安全生产管理制度文本", "upload", "", "electronic", False, True, ""),
    "vehicle_commitment": ("拟投入车辆承诺书", "upload", "", "original", True, False, ""),
    "driver_qualification": ("驾驶人员从业资格证", "licence", "道路运输从业人员从业资格证",
                             "electronic", True, False, ""),
    "exam_result": ("从业资格考试合格信息", "shared_data", "从业资格考试信息", "electronic",
                    True, False, "系统自动核验,免于提交"),
    "labour_contract": ("劳动合同", "upload", "", "copy", False, False, ""),
    "employment_proof": ("合法稳定就业证明(劳动合同或社保缴费记录)", "upload", "", "copy",
                         False, False, "与合法稳定住所、连续就读证明三者提供其一"),
    "school_proof": ("连续就读证明", "upload", "", "original", False, False, ""),
    "residence_registration": ("居住登记信息", "shared_data", "居住登记信息", "electronic",
                               True, False, "申领前须已在居住地办理居住登记满半年"),
    "transfer_contact": ("基本养老保险关系转移接续信息表", "shared_data", "社保参保信息",
                         "electronic", True, False, "转出地经办机构通过全国转移平台推送"),
    "medical_transfer": ("基本医疗保障参保(合)凭证", "shared_data", "医保参保信息",
                         "electronic", True, False, "转出地经办机构通过全国平台推送"),
    "long_stay_commitment": ("异地长期居住个人承诺书", "upload", "", "electronic", True,
                             False, "实行个人承诺制,不再要求提供居住证明"),
    "diagnosis": ("医疗机构出具的诊断证明", "upload", "", "copy", True, False, ""),
    "receipts": ("医疗费用票据及费用明细清单", "upload", "", "original", True, False, ""),
    "delivery_record": ("新生儿出生信息(助产机构分娩记录)", "shared_data", "出生医学证明信息",
                        "electronic", True, False, "由助产机构推送"),
    "birth_info": ("出生医学证明信息", "shared_data", "出生医学证明信息", "electronic", True,
                   False, "系统自动核验,免于提交"),
    "doctor_cert": ("医师资格证书", "licence", "医师资格证书", "electronic", True, False, ""),
    "employment_letter": ("拟执业机构聘用证明", "upload", "", "original", True, False, ""),
    "health_exam": ("近6个月内的健康体检证明", "upload", "", "original", False, False, ""),
    "nurse_exam": ("护士执业资格考试成绩合格证明", "shared_data", "护士执业资格考试信息",
                   "electronic", True, False, ""),
    "hygiene_rules": ("卫生管理制度及卫生检测(评价)报告", "upload", "", "electronic", False,
                      True, ""),
    "clinic_plan": ("医疗机构执业登记申请材料(房屋、设备、人员清单)", "upload", "",
                    "electronic", True, False, ""),
    "marriage_statement": ("本人无配偶以及与对方当事人没有直系血亲和三代以内旁系血亲关系的签字声明",
                           "upload", "", "original", True, False, "在婚姻登记机关现场签署"),
    "divorce_agreement": ("离婚协议书", "upload", "", "original", True, False, ""),
    "charter_draft": ("章程草案", "upload", "", "electronic", True, False, ""),
    "founders": ("发起人、拟任负责人基本情况及身份证明", "upload", "", "electronic", True,
                 False, ""),
    "assets_proof": ("验资报告或场所使用权证明", "upload", "", "electronic", True, False, ""),
    "household_check": ("家庭经济状况核对信息", "shared_data", "家庭经济状况核对信息",
                        "electronic", True, False, "一键核对,经本人授权后查询"),
    "disability_cert": ("残疾人证", "licence", "残疾人证", "electronic", True, False, ""),
    "injury_proof": ("医疗诊断证明或者职业病诊断证明书", "upload", "", "copy", True, False,
                     ""),
    "accident_report": ("事故伤害发生经过及证人证言", "upload", "", "original", False, True,
                        ""),
    "radio_tech": ("无线电台(站)技术资料申报表", "upload", "", "electronic", True, False, ""),
    "freq_licence": ("无线电频率使用许可证", "licence", "无线电频率使用许可证", "electronic",
                     True, False, "基础电信运营企业持有"),
    "site_data": ("基站站址、天线挂高及发射功率等技术参数", "upload", "", "electronic", True,
                  False, ""),
    "eia_form": ("建设项目环境影响登记表", "upload", "", "electronic", True, False,
                 "在网上填报系统填写后自动生成"),
    "eia_report": ("建设项目环境影响报告表", "upload", "", "electronic", True, False, ""),
    "road_plan": ("占用或挖掘城市道路的施工方案及平面示意图", "upload", "", "electronic",
                  True, False, ""),
    "traffic_opinion": ("公安交通管理部门意见", "upload", "", "copy", False, True,
                        "影响交通安全的提供"),
    "pollutant_plan": ("排污单位基本情况及自行监测方案", "upload", "", "electronic", True,
                       False, ""),
    "project_info": ("项目基本情况信息表", "upload", "", "electronic", True, False, ""),
    "presale_plan": ("商品房预售方案", "upload", "", "electronic", True, False, ""),
    "construction_permit": ("建筑工程施工许可证", "licence", "建筑工程施工许可证",
                            "electronic", True, False, ""),
    "completion_report": ("工程竣工验收报告", "upload", "", "electronic", True, False, ""),
    "waste_plan": ("建筑垃圾处置方案及运输合同", "upload", "", "electronic", True, False, ""),
    "drainage_plan": ("排水管网、专用检测井及排放口位置图", "upload", "", "electronic", True,
                      False, ""),
    "gas_facilities": ("燃气设施竣工验收及安全评价材料", "upload", "", "electronic", True,
                       False, ""),
    "hr_staff": ("专职工作人员身份及学历证明", "upload", "", "electronic", True, False, ""),
    "dispatch_capital": ("注册资本不少于人民币二百万元的证明及经营场所证明", "upload", "",
                         "electronic", True, False, ""),
    "work_hours_plan": ("实行特殊工时制度的岗位、人数及职工休息休假保障措施", "upload", "",
                        "electronic", True, False, ""),
    "guarantee": ("贷款担保或反担保材料", "upload", "", "copy", False, True, ""),
    "business_plan": ("创业项目计划书", "upload", "", "electronic", False, True, ""),
    "equipment_docs": ("特种设备产品合格证及监督检验证明", "upload", "", "copy", True, False,
                       ""),
    "coop_members": ("农民专业合作社章程及成员名册", "upload", "", "electronic", True, False,
                     ""),
    "platform_capacity": ("网络服务平台线上服务能力认定结果", "upload", "", "electronic",
                          True, False, ""),
    "overload_plan": ("车货总体外廓尺寸、总质量、轴荷数据及护送方案", "upload", "",
                      "electronic", True, False, ""),
    "road_works": ("涉路工程设计图及安全评价报告", "upload", "", "electronic", True, False,
                   ""),
    "repair_filing": ("维修设备设施、技术人员清单", "upload", "", "electronic", True, False,
                      ""),
    "training_filing": ("教练场地、教练车及教练员情况", "upload", "", "electronic", True,
                        False, ""),
    "death_info": ("居民死亡医学证明(推断)书信息", "shared_data", "死亡医学证明信息",
                   "electronic", True, False, "系统自动核验,免于提交"),
    "change_proof": ("变更更正事项的证明材料", "upload", "", "copy", True, False, ""),
    "talent_proof": ("学历学位证书或专业技术职称证书", "upload", "", "copy", True, False, ""),
    "relation_proof": ("亲属关系证明", "upload", "", "copy", True, False,
                       "结婚证、出生医学证明等已关联电子证照的免于提交"),
    "transfer_cert": ("准予迁入证明或户口迁移证件", "licence", "户口迁移证明",
                      "electronic", True, False, "迁移一站式办理的由系统流转"),
    "card_loss_statement": ("遗失声明(本人签字)", "upload", "", "original", False, False,
                            ""),
    "chronic_case": ("门诊慢特病诊断材料(病历、检查报告)", "upload", "", "copy", True, False,
                     ""),
    "pharmacy_docs": ("医药机构执业许可及信息系统建设材料", "upload", "", "electronic", True,
                      False, ""),
    "investment_info": ("企业投资项目备案信息(项目名称、规模、内容、总投资)", "upload", "",
                        "electronic", True, False, ""),
    "proxy_letter": ("授权委托书", "upload", "", "original", False, False,
                     "委托他人代办的提供"),
}

# key: (name, amount in yuan as a decimal string, basis)
FEES: dict[str, tuple[str, str, str]] = {
    "driving_licence": ("机动车驾驶证工本费", "10.00",
                        "机动车驾驶证工本费收费标准(国家发展改革委、财政部核定), 10元/本"),
    "id_card": ("居民身份证工本费", "20.00",
                "《国家发展改革委 财政部关于居民身份证收费标准及有关问题的通知》, "
                "换领、补领20元/证"),
    "temp_id_card": ("临时居民身份证工本费", "10.00",
                     "《国家发展改革委 财政部关于居民身份证收费标准及有关问题的通知》, 10元/证"),
    "residence_permit": ("居住证工本费", "20.00",
                         "《居住证暂行条例》: 换领、补领居住证应当缴纳证件工本费, "
                         "标准由省级价格主管部门会同财政部门核定"),
    "vehicle_licence": ("机动车行驶证工本费", "10.00",
                        "机动车行驶证工本费收费标准(国家发展改革委、财政部核定), 10元/本"),
}

# ---------------------------------------------------------------- form fields

_PATTERNS = {
    "id_number": r"^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
                 r"[0-9]{3}[0-9X]$",
    "mobile": r"^1[3-9][0-9]{9}$",
    "credit_code": r"^[1-9ANY][0-9A-HJ-NPQRTUWXY][0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$",
    "region": r"^[0-9]{6}$",
}


def _personal(kind: str) -> dict[str, Any]:
    """`x-personal`: the field holds personal data of this kind (masked for staff who need
    not see it whole; tongban.cases.masking)."""
    return {"x-personal": kind}


def _own(kind: str) -> dict[str, Any]:
    """`x-applicant`: the field is the applicant's own identity (name, ID number): filled
    from the signed-in account and checked against it (an agent: the principal's)."""
    return {"x-personal": kind, "x-applicant": kind}


def _text(title: str, min_length: int = 1, max_length: int = 200, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, "minLength": min_length,
            "maxLength": max_length, **extra}


def _enum(title: str, *values: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "enum": list(values)}


def _date(title: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "format": "date"}


def _number(title: str, minimum: float, maximum: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "number", "title": title, "minimum": minimum}
    if maximum is not None:
        out["maximum"] = maximum
    return out


def _integer(title: str, minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "title": title, "minimum": minimum, "maximum": maximum}


FIELDS: dict[str, dict[str, Any]] = {
    "applicant_name": _text("申请人姓名", 2, 30, **_own("name")),
    "id_number": _text("公民身份号码", 18, 18, pattern=_PATTERNS["id_number"], **_own("id_number")),
    "phone": _text("联系电话(手机)", 11, 11, pattern=_PATTERNS["mobile"], **_personal("phone")),
    "address": _text("联系地址", 5, 200, **_personal("address")),
    "enterprise_name": _text("企业(单位)名称", 4, 100, **{"x-applicant": "name"}),
    "credit_code": _text("统一社会信用代码", 18, 18, pattern=_PATTERNS["credit_code"],
                         **{"x-applicant": "credit_code"}),
    "contact_name": _text("经办人姓名", 2, 30, **_personal("name")),
    "withdraw_amount": _number("提取金额(元)", 0.01),
    "bank_account": _text("收款银行账号", 12, 19, pattern=r"^[0-9]{12,19}$",
                          **_personal("bank_account")),
    "bank_name": _text("开户银行", 2, 60),
    "loan_amount": _number("申请贷款金额(万元)", 1, 200),
    "loan_years": _integer("贷款期限(年)", 1, 30),
    "house_address": _text("房屋坐落", 5, 200),
    "house_area": _number("建筑面积(平方米)", 1, 10000),
    "rent_monthly": _number("月租金(元)", 1, 100000),
    "from_region": _text("转出(迁出)地行政区划代码", 6, 6, pattern=_PATTERNS["region"]),
    "to_region": _text("转入(迁入)地行政区划代码", 6, 6, pattern=_PATTERNS["region"]),
    "move_reason": _enum("迁移原因", "夫妻投靠", "父母投靠子女", "子女投靠父母", "人才引进",
                         "购房落户", "毕业生落户", "其他"),
    "child_name": _text("新生儿姓名", 1, 30, **_personal("name")),
    "child_birth_date": _date("出生日期"),
    "child_gender": _enum("性别", "男", "女"),
    "birth_place": _text("出生地点(助产机构)", 2, 100),
    "driving_file_no": _text("驾驶证档案编号", 12, 12, pattern=r"^[0-9]{12}$"),
    "vehicle_class": _enum("准驾车型", "A1", "A2", "A3", "B1", "B2", "C1", "C2", "C3", "C4",
                           "C5", "C6", "D", "E", "F", "M", "N", "P"),
    "plate_number": _text("号牌号码", 7, 8,
                          pattern=r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
                                  r"[A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}$"),
    "delivery": _enum("领取方式", "窗口领取", "邮政寄递"),
    "registered_capital": _number("注册资本(万元)", 0.01),
    "business_scope": _text("经营范围", 2, 2000),
    "business_address": _text("住所(经营场所)", 5, 200),
    "legal_representative": _text("法定代表人(负责人)", 2, 30, **_personal("name")),
    "change_before": _text("变更前内容", 1, 500),
    "change_after": _text("变更后内容", 1, 500),
    "food_categories": {
        "type": "array", "title": "经营项目", "minItems": 1, "uniqueItems": True,
        "items": {"type": "string", "enum": ["预包装食品销售", "散装食品销售", "热食类食品制售",
                                             "冷食类食品制售", "生食类食品制售", "半成品制售",
                                             "自制饮品制售", "其他类食品制售"]},
    },
    "premises_area": _number("经营场所面积(平方米)", 1, 100000),
    "project_name": _text("项目名称", 2, 200),
    "project_address": _text("建设地点", 5, 200),
    "building_area": _number("总建筑面积(平方米)", 1),
    "contract_price": _number("合同价格(万元)", 0.01),
    "transport_scope": {
        "type": "array", "title": "申请经营范围", "minItems": 1, "uniqueItems": True,
        "items": {"type": "string", "enum": ["道路普通货物运输", "道路危险货物运输", "大型物件运输",
                                             "班车客运", "包车客运", "旅游客运"]},
    },
    "vehicle_count": _integer("拟投入车辆数(辆)", 1, 10000),
    "employer_name": _text("原工作单位名称", 2, 100),
    "separation_date": _date("解除(终止)劳动关系日期"),
    "pension_type": _enum("险种", "企业职工基本养老保险", "机关事业单位基本养老保险",
                          "城乡居民基本养老保险"),
    "medical_place": _text("就医地行政区划代码", 6, 6, pattern=_PATTERNS["region"]),
    "stay_start": _date("开始日期"),
    "stay_end": _date("预计结束日期"),
    "spouse_name": _text("对方姓名", 2, 30, **_personal("name")),
    "spouse_id_number": _text("对方公民身份号码", 18, 18, pattern=_PATTERNS["id_number"],
                              **_personal("id_number")),
    "station_count": _integer("基站数量(个)", 1, 100000),
    "frequency_band": _enum("使用频段", "700MHz", "2.6GHz", "3.5GHz", "4.9GHz"),
    "reason": _text("申请事由", 2, 500),
    "card_reason": _enum("补换原因", "遗失", "损坏", "信息变更", "有效期满"),
    "residence_address": _text("居住地址", 5, 200, **_personal("address")),
    "staff_count": _integer("从业人员数(人)", 1, 100000),
    "practice_scope": _text("执业范围", 2, 200),
    "institution_name": _text("执业机构名称", 2, 100),
    "road_name": _text("占用(挖掘)道路名称及路段", 2, 200),
    "works_period": _integer("施工期限(日)", 1, 365),
    "investment": _number("总投资(万元)", 0.01),
}

PERSON_FIELDS = ("applicant_name", "id_number", "phone", "address")
ENTERPRISE_FIELDS = ("enterprise_name", "credit_code", "legal_representative", "contact_name",
                     "phone", "address")


def build_form_schema(title: str, applicants: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """The application form of an item as a JSON Schema (draft 2020-12)."""
    base = ENTERPRISE_FIELDS if applicants.startswith("e") else PERSON_FIELDS
    names = list(dict.fromkeys((*base, *fields)))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{title}申请表",
        "type": "object",
        "properties": {name: FIELDS[name] for name in names},
        "required": names,
        "additionalProperties": False,
    }


# ---------------------------------------------------------------- item tables

ITEM_TYPES = {  # abbreviation: (ItemType value, 2-digit code in the 基本编码)
    "XK": ("行政许可", "01"), "QR": ("行政确认", "02"), "CJ": ("行政裁决", "03"),
    "JF": ("行政给付", "04"), "JL": ("行政奖励", "05"), "BA": ("行政备案", "06"),
    "QT": ("其他行政权力", "07"), "GF": ("公共服务", "08"),
}


class Sector(NamedTuple):
    code: str
    dept: str  # DEPARTMENT_KINDS key
    tier: str  # "city" | "county" | "both": who implements the items
    applicants: str  # "p" person, "e" enterprise, "pe" both
    topics: tuple[str, ...]
    depth: int
    modes: tuple[str, ...]
    conditions: tuple[str, ...]
    fields: tuple[str, ...]


# Row: (main, sub, name, type, legal days, promised days, material keys, result, legal basis,
#       overrides). result "证:<licence type>" issues an e-licence, "" none, else a document.
Row = tuple[int, int, str, str, int, int, str, str, str, dict[str, Any]]

GJJ = "《住房公积金管理条例》"
SOCIAL = "《中华人民共和国社会保险法》"
HUKOU = "《中华人民共和国户口登记条例》"
ENTITY = "《中华人民共和国市场主体登记管理条例》《中华人民共和国公司法》"
DRIVING = "《中华人民共和国道路交通安全法》《机动车驾驶证申领和使用规定》(公安部令第162号)"
VEHICLE = "《中华人民共和国道路交通安全法》《机动车登记规定》(公安部令第164号)"
FOOD = "《中华人民共和国食品安全法》第三十五条;《食品经营许可和备案管理办法》"
ROAD = "《中华人民共和国道路运输条例》"
MARRIAGE = "《中华人民共和国民法典》;《婚姻登记条例》"
MEDICAL = "《中华人民共和国社会保险法》;《医疗保障基金使用监督管理条例》"
HOUSEHOLD = "《中华人民共和国居民身份证法》"
RESIDENCE = "《居住证暂行条例》(国务院令第663号)第九条"
CROSS = ("fully_online",)
EMPLOYER = ("单位已依法设立并取得统一社会信用代码", "单位已办理住房公积金缴存登记或同时办理")
SPOUSE = ("spouse_name", "spouse_id_number")
VEHICLES_READY = ("有与其经营业务相适应并经检测合格的车辆", "有符合规定条件的驾驶人员",
                  "有健全的安全生产管理制度")
FORWARD = ("fully_online", "receive_and_forward")

SECTORS: dict[str, tuple[Sector, tuple[Row, ...]]] = {
    "住房公积金": (
        Sector("01", "gjj", "city", "p", ("住房",), 4, FORWARD,
               ("缴存职工住房公积金账户处于正常状态",), ("bank_account", "bank_name")),
        (
            (1, 0, "住房公积金单位缴存登记", "GF", 5, 1, "biz_licence entity_info",
             "单位缴存登记回执", GJJ + "第十四条",
             {"app": "e", "fields": ("staff_count",), "topics": ("企业开办",), "cond": EMPLOYER}),
            (2, 0, "住房公积金个人账户设立", "GF", 3, 0, "entity_info population", "",
             GJJ + "第十五条", {"app": "e", "fields": ("staff_count",), "cond": EMPLOYER}),
            (3, 0, "住房公积金缴存基数调整", "GF", 5, 1, "entity_info insured",
             "缴存基数调整确认单", GJJ + "第十六条", {"app": "e", "cond": EMPLOYER}),
            (4, 0, "住房公积金个人缴存信息变更", "GF", 3, 0, "id_card gjj_info", "",
             GJJ, {"fields": ("change_before", "change_after")}),
            (5, 1, "购买自住住房提取住房公积金", "GF", 10, 5,
             "id_card purchase_contract property_info marriage_info bank_card gjj_info",
             "准予提取通知书", GJJ + "第二十四条",
             {"fields": ("house_address", "withdraw_amount")}),
            (5, 2, "租赁住房提取住房公积金", "GF", 10, 3,
             "id_card lease_contract property_info marriage_info gjj_info",
             "准予提取通知书", GJJ + "第二十四条",
             {"fields": ("house_address", "rent_monthly", "withdraw_amount"),
              "cond": ("缴存职工及配偶在缴存城市无自有住房且租赁住房自住",
                       "住房公积金账户连续足额缴存满3个月")}),
            (5, 3, "离休退休提取住房公积金", "GF", 10, 3,
             "id_card retirement_info gjj_info bank_card", "准予提取通知书", GJJ + "第二十四条",
             {"fields": ("withdraw_amount",), "topics": ("住房", "退休养老")}),
            (5, 4, "偿还购房贷款本息提取住房公积金", "GF", 10, 5,
             "id_card loan_contract property_info gjj_info bank_card", "准予提取通知书",
             GJJ + "第二十四条", {"fields": ("house_address", "withdraw_amount")}),
            (5, 5, "出境定居提取住房公积金", "GF", 10, 5,
             "id_card emigration_proof gjj_info bank_card", "准予提取通知书", GJJ + "第二十四条",
             {"fields": ("withdraw_amount",), "modes": ()}),
            (5, 6, "完全丧失劳动能力并与单位终止劳动关系提取住房公积金", "GF", 10, 5,
             "id_card disability_proof termination_proof gjj_info bank_card", "准予提取通知书",
             GJJ + "第二十四条", {"fields": ("withdraw_amount",), "modes": ("receive_and_forward",),
                                "depth": 3}),
            (6, 0, "住房公积金个人住房贷款", "GF", 20, 10,
             "id_card marriage_info purchase_contract gjj_info gjj_proof property_info",
             "住房公积金贷款审批通知书", GJJ + "第二十六条",
             {"fields": ("house_address", "house_area", "loan_amount", "loan_years"),
              "depth": 3, "modes": ("receive_and_forward",), "visits": 1,
              "special": ("房屋价值评估(所需时间不计入办理时限)",)}),
            (7, 0, "出具贷款职工住房公积金缴存使用证明", "GF", 1, 0, "id_card gjj_info",
             "证:住房公积金缴存证明", GJJ, {"fields": ("to_region",), "desc":
             "异地贷款职工向缴存地住房公积金管理中心申请出具缴存使用证明,供贷款地审核使用。"}),
            (8, 0, "正常缴存住房公积金证明出具", "GF", 1, 0, "id_card gjj_info",
             "证:住房公积金缴存证明", GJJ, {}),
            (9, 0, "住房公积金异地转移接续", "GF", 15, 10, "id_card gjj_info",
             "转移接续办结告知", GJJ + ";《全国住房公积金异地转移接续业务操作规程》",
             {"fields": ("from_region",), "modes": ("fully_online", "joint")}),
            (10, 0, "提前部分偿还住房公积金贷款", "GF", 5, 1, "id_card loan_contract",
             "还款确认单", GJJ, {"fields": ("withdraw_amount",)}),
            (11, 0, "住房公积金贷款全部结清", "GF", 5, 1, "id_card loan_contract",
             "贷款结清证明", GJJ, {}),
        ),
    ),
    "人力资源和社会保障": (
        Sector("02", "hrss", "city", "p", ("社会保障",), 4, CROSS,
               ("申请人符合法律、法规规定的条件",), ()),
        (
            (1, 1, "社会保障卡申领", "GF", 20, 10, "id_card photo insured", "证:社会保障卡",
             SOCIAL + "第五十八条;《社会保障卡管理办法》",
             {"fields": ("delivery",), "forms": ("window", "online", "mobile", "post")}),
            (1, 2, "社会保障卡补领", "GF", 20, 5, "id_card photo card_loss_statement",
             "证:社会保障卡", SOCIAL + "第五十八条;《社会保障卡管理办法》",
             {"fields": ("card_reason", "delivery"), "modes": FORWARD,
              "forms": ("window", "online", "mobile", "post")}),
            (1, 3, "社会保障卡换领", "GF", 20, 5, "id_card photo social_card",
             "证:社会保障卡", SOCIAL + "第五十八条;《社会保障卡管理办法》",
             {"fields": ("card_reason", "delivery")}),
            (1, 4, "社会保障卡挂失", "GF", 0, 0, "id_card", "", "《社会保障卡管理办法》", {}),
            (1, 5, "社会保障卡应用状态启用", "GF", 0, 0, "id_card social_card", "",
             "《社会保障卡管理办法》", {}),
            (2, 1, "企业职工基本养老保险关系转移接续(转出)", "GF", 15, 10, "id_card insured",
             "参保缴费凭证", SOCIAL + "第十九条;《城镇企业职工基本养老保险关系转移接续暂行办法》",
             {"fields": ("to_region", "pension_type"), "modes": ("fully_online", "joint"),
              "topics": ("社会保障", "就业创业")}),
            (2, 2, "企业职工基本养老保险关系转移接续(转入)", "GF", 15, 10,
             "id_card transfer_contact", "转移接续办结告知",
             SOCIAL + "第十九条;《城镇企业职工基本养老保险关系转移接续暂行办法》",
             {"fields": ("from_region", "pension_type"), "modes": ("fully_online", "joint")}),
            (2, 3, "城乡居民基本养老保险关系转移接续", "GF", 15, 10, "id_card insured population",
             "转移接续办结告知", SOCIAL + ";《城乡养老保险制度衔接暂行办法》",
             {"fields": ("from_region",), "modes": ("fully_online", "joint")}),
            (3, 0, "个人权益记录查询打印", "GF", 0, 0, "id_card insured", "个人参保证明",
             SOCIAL + "第七十四条", {}),
            (4, 0, "领取养老金人员待遇资格认证", "GF", 0, 0, "id_card", "",
             SOCIAL, {"topics": ("退休养老",)}),
            (5, 0, "失业登记", "GF", 5, 0, "id_card termination_proof", "就业创业证登记",
             "《中华人民共和国就业促进法》;《就业服务与就业管理规定》",
             {"tier": "county", "fields": ("employer_name", "separation_date", "residence_address"),
              "topics": ("就业创业",)}),
            (6, 0, "失业保险金申领", "JF", 20, 5, "id_card termination_proof insured bank_card",
             "失业保险金核定通知", SOCIAL + "第四十五条;《失业保险条例》",
             {"tier": "county", "fields": ("employer_name", "separation_date"),
              "topics": ("就业创业", "社会保障")}),
            (7, 0, "就业创业证申领", "GF", 5, 0, "id_card photo", "证:就业创业证",
             "《就业服务与就业管理规定》", {"tier": "county", "topics": ("就业创业",)}),
            (8, 0, "就业登记", "GF", 5, 1, "id_card labour_contract", "",
             "《中华人民共和国就业促进法》;《就业服务与就业管理规定》",
             {"tier": "county", "app": "e", "topics": ("就业创业",)}),
            (9, 0, "工伤认定申请", "QR", 60, 30,
             "id_card labour_contract injury_proof accident_report", "工伤认定决定书",
             "《工伤保险条例》第十七条、第二十条",
             {"depth": 3, "modes": ("receive_and_forward",), "visits": 1,
              "fields": ("employer_name", "reason"), "special": ("劳动能力鉴定", "调查核实")}),
            (10, 0, "人力资源服务许可", "XK", 20, 10, "biz_licence hr_staff address_proof",
             "证:人力资源服务许可证", "《人力资源市场暂行条例》第十八条",
             {"app": "e", "depth": 4, "topics": ("企业开办",), "fields": ("business_scope",)}),
            (11, 0, "劳务派遣经营许可", "XK", 20, 10,
             "biz_licence dispatch_capital safety_rules", "证:劳务派遣经营许可证",
             "《中华人民共和国劳动合同法》第五十七条;《劳务派遣行政许可实施办法》",
             {"app": "e", "topics": ("企业开办",), "fields": ("business_scope",)}),
            (12, 0, "企业实行不定时工作制和综合计算工时工作制审批", "XK", 20, 10,
             "biz_licence work_hours_plan", "审批决定书",
             "《中华人民共和国劳动法》第三十九条",
             {"app": "e", "modes": (), "fields": ("staff_count", "reason")}),
            (13, 0, "创业担保贷款申请", "JF", 20, 10,
             "id_card biz_licence business_plan guarantee", "创业担保贷款审核意见",
             "《财政部 人力资源社会保障部 中国人民银行"
             "关于进一步做好创业担保贷款财政贴息工作的通知》",
             {"tier": "county", "depth": 3, "modes": (), "visits": 1,
              "fields": ("loan_amount", "business_scope"), "topics": ("就业创业",)}),
            (14, 0, "灵活就业人员参保登记", "GF", 5, 0, "id_card", "参保登记回执",
             SOCIAL + "第十条", {"tier": "county", "topics": ("社会保障", "就业创业")}),
        ),
    ),
    "公安户政": (
        Sector("03", "police", "county", "p", ("户籍办理",), 3, ("receive_and_forward",),
               ("申请人为本辖区常住户口或居住人员",), ("residence_address",)),
        (
            (1, 0, "出生登记", "QR", 30, 5, "birth_cert hukou_book id_card marriage_info",
             "证:居民户口簿", HUKOU + "第七条",
             {"fields": ("child_name", "child_gender", "child_birth_date", "birth_place"),
              "topics": ("生育收养", "户籍办理"), "modes": FORWARD, "depth": 4,
              "cond": ("婴儿出生后一个月内由户主、亲属或者抚养人申报",)}),
            (2, 0, "户口迁出", "QR", 20, 3, "id_card hukou_book transfer_cert", "户口迁移证明",
             HUKOU + "第十条", {"fields": ("to_region", "move_reason"), "modes": ("joint",)}),
            (3, 1, "夫妻投靠户口迁入", "QR", 20, 10,
             "id_card hukou_book marriage_cert property_info", "证:居民户口簿",
             HUKOU + "第十三条", {"fields": ("from_region", "spouse_name", "spouse_id_number"),
                                "modes": ("joint", "receive_and_forward")}),
            (3, 2, "父母投靠子女户口迁入", "QR", 20, 10,
             "id_card hukou_book relation_proof property_info", "证:居民户口簿",
             HUKOU + "第十三条", {"fields": ("from_region",), "modes": ("joint",
             "receive_and_forward")}),
            (3, 3, "人才引进户口迁入", "QR", 20, 7,
             "id_card hukou_book talent_proof labour_contract", "证:居民户口簿",
             HUKOU + "第十三条", {"fields": ("from_region", "employer_name"),
                                "modes": ("joint", "receive_and_forward"),
                                "topics": ("户籍办理", "就业创业")}),
            (3, 4, "毕业生户口迁入", "QR", 20, 5, "id_card talent_proof labour_contract",
             "证:居民户口簿", HUKOU + "第十三条", {"fields": ("from_region",),
                                                  "modes": ("joint", "receive_and_forward")}),
            (4, 1, "居住证申领", "XK", 15, 10,
             "id_card photo residence_registration employment_proof lease_contract",
             "证:居住证", RESIDENCE,
             {"cond": ("离开常住户口所在地,到本市居住半年以上",
                       "有合法稳定就业、合法稳定住所、连续就读条件之一"),
              "fields": ("residence_address",)}),
            (4, 2, "居住证签注", "QR", 5, 0, "residence_permit id_card", "",
             "《居住证暂行条例》第十三条", {}),
            (4, 3, "居住证换领补领", "QR", 15, 10, "residence_permit id_card photo",
             "证:居住证", "《居住证暂行条例》第十五条", {"fees": ("residence_permit",),
                                                     "fields": ("card_reason",)}),
            (5, 1, "居民身份证换领", "QR", 60, 30, "id_card hukou_book photo",
             "证:居民身份证", HOUSEHOLD + "第十一条",
             {"fees": ("id_card",), "modes": ("receive_and_forward",),
              "fields": ("card_reason", "delivery"), "visits": 1,
              "forms": ("window", "mobile", "post")}),
            (5, 2, "居民身份证补领", "QR", 60, 30, "hukou_book photo", "证:居民身份证",
             HOUSEHOLD + "第十一条",
             {"fees": ("id_card",), "modes": ("receive_and_forward",),
              "fields": ("card_reason", "delivery"), "visits": 1,
              "forms": ("window", "mobile", "post")}),
            (5, 3, "临时居民身份证申领", "QR", 3, 0, "hukou_book photo", "证:临时居民身份证",
             HOUSEHOLD + "第十二条", {"fees": ("temp_id_card",), "modes": (), "visits": 1}),
            (5, 4, "首次申领居民身份证", "QR", 60, 30, "hukou_book photo", "证:居民身份证",
             HOUSEHOLD + "第二条", {"modes": (), "visits": 1}),
            (6, 0, "户口登记项目变更更正", "QR", 30, 15, "id_card hukou_book change_proof",
             "证:居民户口簿", HUKOU + "第十七条",
             {"fields": ("change_before", "change_after")}),
            (7, 0, "死亡注销户口", "QR", 30, 0, "hukou_book death_info", "注销户口证明",
             HUKOU + "第八条", {"topics": ("户籍办理", "身后事")}),
            (8, 0, "无犯罪记录证明开具", "GF", 3, 1, "id_card", "无犯罪记录证明",
             "《公安机关办理无犯罪记录证明工作规定》", {"fields": ("reason",), "modes": FORWARD,
                                                   "depth": 4}),
        ),
    ),
    "公安交管": (
        Sector("04", "traffic", "city", "p", ("交通出行",), 4, FORWARD,
               ("申请人持有有效期内的机动车驾驶证或机动车登记证书",),
               ("driving_file_no", "delivery")),
        (
            (1, 1, "机动车驾驶证有效期满换证", "QR", 1, 1,
             "id_card driving_licence driver_health photo",
             "证:机动车驾驶证", DRIVING,
             {"fees": ("driving_licence",), "fields": ("vehicle_class",),
              "forms": ("window", "online", "mobile", "post")}),
            (1, 2, "机动车驾驶证遗失补证", "QR", 1, 1, "id_card photo", "证:机动车驾驶证", DRIVING,
             {"fees": ("driving_licence",), "forms": ("window", "online", "mobile", "post"),
              "depth": 3, "modes": ("receive_and_forward",), "visits": 1}),
            (1, 3, "机动车驾驶证损毁换证", "QR", 1, 1, "id_card driving_licence photo",
             "证:机动车驾驶证", DRIVING, {"fees": ("driving_licence",)}),
            (1, 4, "机动车驾驶人信息变更换证", "QR", 1, 1, "id_card driving_licence change_proof",
             "证:机动车驾驶证", DRIVING, {"fees": ("driving_licence",),
                                  "fields": ("change_before", "change_after")}),
            (1, 5, "机动车驾驶证延期换证", "QR", 1, 0, "id_card driving_licence change_proof",
             "", DRIVING, {"fields": ("reason",)}),
            (2, 0, "提交机动车驾驶人身体条件证明", "QR", 1, 0,
             "id_card driving_licence driver_health",
             "", DRIVING, {}),
            (3, 0, "机动车驾驶证审验", "QR", 1, 0, "id_card driving_licence", "", DRIVING, {}),
            (4, 0, "机动车注册登记", "QR", 2, 1, "id_card vehicle_commitment", "证:机动车行驶证",
             VEHICLE, {"fees": ("vehicle_licence",), "fields": ("plate_number",),
                       "depth": 3, "modes": (), "visits": 1}),
            (5, 0, "机动车转移登记", "QR", 2, 1, "id_card vehicle_licence", "证:机动车行驶证",
             VEHICLE, {"fees": ("vehicle_licence",), "fields": ("plate_number",),
                       "depth": 3, "modes": ("receive_and_forward",), "visits": 1}),
            (6, 0, "补领机动车行驶证", "QR", 1, 1, "id_card", "证:机动车行驶证", VEHICLE,
             {"fees": ("vehicle_licence",), "fields": ("plate_number",)}),
            (7, 0, "核发机动车检验合格标志", "QR", 0, 0, "vehicle_licence", "检验合格标志(电子)",
             VEHICLE, {"fields": ("plate_number",)}),
        ),
    ),
    "市场监管": (
        Sector("05", "market", "city", "e", ("企业开办",), 4, CROSS,
               ("申请人符合法律、行政法规规定的登记条件",),
               ("business_address", "business_scope")),
        (
            (1, 1, "有限责任公司设立登记", "XK", 15, 3,
             "id_card name_notice articles shareholders officers address_proof", "证:营业执照",
             ENTITY, {"fields": ("registered_capital",), "app": "pe"}),
            (1, 2, "股份有限公司设立登记", "XK", 15, 3,
             "id_card name_notice articles shareholders officers address_proof resolution",
             "证:营业执照", ENTITY, {"fields": ("registered_capital",), "app": "pe"}),
            (2, 1, "公司名称变更登记", "XK", 15, 3, "biz_licence resolution articles",
             "证:营业执照", ENTITY, {"fields": ("change_before", "change_after")}),
            (2, 2, "公司住所变更登记", "XK", 15, 3, "biz_licence resolution address_proof",
             "证:营业执照", ENTITY, {"fields": ("change_before", "change_after")}),
            (2, 3, "公司法定代表人变更登记", "XK", 15, 3, "biz_licence resolution officers",
             "证:营业执照", ENTITY, {"fields": ("change_before", "change_after")}),
            (2, 4, "公司注册资本变更登记", "XK", 15, 3, "biz_licence resolution articles",
             "证:营业执照", ENTITY, {"fields": ("change_before", "change_after")}),
            (2, 5, "公司经营范围变更登记", "XK", 15, 3, "biz_licence resolution articles",
             "证:营业执照", ENTITY, {"fields": ("change_before", "change_after")}),
            (3, 1, "公司注销登记", "XK", 15, 3, "biz_licence resolution liquidation tax_clearance",
             "准予注销登记通知书", ENTITY, {"topics": ("企业注销",)}),
            (3, 2, "公司简易注销登记", "XK", 15, 3, "biz_licence commitment tax_clearance",
             "准予简易注销登记通知书", ENTITY + ";《市场主体登记管理条例》第三十三条",
             {"topics": ("企业注销",)}),
            (4, 1, "个体工商户设立登记", "XK", 15, 1, "id_card address_proof", "证:营业执照",
             "《促进个体工商户发展条例》;《中华人民共和国市场主体登记管理条例》",
             {"tier": "county", "app": "p"}),
            (4, 2, "个体工商户变更登记", "XK", 15, 1, "id_card biz_licence", "证:营业执照",
             "《促进个体工商户发展条例》;《中华人民共和国市场主体登记管理条例》",
             {"tier": "county", "app": "p", "fields": ("change_before", "change_after")}),
            (4, 3, "个体工商户注销登记", "XK", 15, 1, "id_card biz_licence tax_clearance",
             "准予注销登记通知书", "《中华人民共和国市场主体登记管理条例》",
             {"tier": "county", "app": "p", "topics": ("企业注销",)}),
            (5, 0, "农民专业合作社设立登记", "XK", 15, 3, "id_card coop_members address_proof",
             "证:营业执照",
             "《中华人民共和国农民专业合作社法》;《中华人民共和国市场主体登记管理条例》",
             {"tier": "county", "app": "p"}),
            (6, 0, "营业执照补领换发", "QR", 5, 1, "biz_licence", "证:营业执照",
             "《中华人民共和国市场主体登记管理条例》", {"fields": ("card_reason",)}),
            (7, 1, "食品经营许可(新办)", "XK", 10, 7,
             "id_card biz_licence food_layout food_rules food_staff", "证:食品经营许可证",
             FOOD, {"tier": "county", "fields": ("food_categories", "premises_area"),
                    "topics": ("企业开办", "餐饮")}),
            (7, 2, "食品经营许可(变更)", "XK", 10, 5, "biz_licence food_layout",
             "证:食品经营许可证", FOOD,
             {"tier": "county", "fields": ("food_categories", "change_before", "change_after")}),
            (7, 3, "食品经营许可(延续)", "XK", 10, 5, "biz_licence food_rules",
             "证:食品经营许可证", FOOD, {"tier": "county", "fields": ("food_categories",)}),
            (7, 4, "食品经营许可(注销)", "XK", 10, 3, "biz_licence", "注销通知书", FOOD,
             {"tier": "county"}),
            (8, 0, "仅销售预包装食品备案", "BA", 0, 0, "biz_licence", "备案回执",
             "《中华人民共和国食品安全法》第三十五条;《食品经营许可和备案管理办法》",
             {"tier": "county", "fields": ("premises_area",)}),
            (9, 1, "药品零售企业药品经营许可(新办)", "XK", 20, 15,
             "biz_licence pharmacist drug_quality drug_premises", "证:药品经营许可证",
             "《中华人民共和国药品管理法》第五十一条;《药品经营和使用质量监督管理办法》",
             {"tier": "county", "depth": 3, "modes": (), "visits": 1,
              "fields": ("premises_area",), "special": ("现场检查",)}),
            (9, 2, "药品零售企业药品经营许可(变更)", "XK", 20, 10,
             "biz_licence drug_premises", "证:药品经营许可证",
             "《中华人民共和国药品管理法》第五十一条;《药品经营和使用质量监督管理办法》",
             {"tier": "county", "fields": ("change_before", "change_after")}),
            (10, 0, "第二类医疗器械经营备案", "BA", 0, 0, "biz_licence device_quality",
             "备案凭证", "《医疗器械监督管理条例》第四十一条", {"tier": "county"}),
            (11, 0, "第三类医疗器械经营许可", "XK", 20, 15, "biz_licence device_quality",
             "证:医疗器械经营许可证", "《医疗器械监督管理条例》第四十二条",
             {"depth": 3, "modes": (), "visits": 1, "special": ("现场核查",)}),
            (12, 0, "特种设备使用登记", "XK", 15, 5, "biz_licence equipment_docs",
             "证:特种设备使用登记证", "《中华人民共和国特种设备安全法》第三十三条",
             {"tier": "county", "fields": ("project_address",)}),
        ),
    ),
    "卫生健康": (
        Sector("06", "health", "county", "p", ("生育收养",), 4, FORWARD,
               ("申请人符合法律、法规规定的条件",), ()),
        (
            (1, 1, "出生医学证明首次签发", "GF", 30, 5, "id_card delivery_record",
             "证:出生医学证明", "《中华人民共和国母婴保健法》第二十三条",
             {"fields": ("child_name", "child_gender", "child_birth_date", "birth_place"),
              "cond": ("新生儿在中华人民共和国境内的助产机构出生",)}),
            (1, 2, "出生医学证明补发", "GF", 30, 10, "id_card birth_info", "证:出生医学证明",
             "《中华人民共和国母婴保健法》第二十三条;《国家卫生健康委关于做好出生医学证明管理工作的通知》",
             {"fields": ("child_name", "child_birth_date", "reason")}),
            (1, 3, "出生医学证明换发", "GF", 30, 10, "id_card birth_cert change_proof",
             "证:出生医学证明", "《中华人民共和国母婴保健法》第二十三条",
             {"fields": ("child_name", "change_before", "change_after")}),
            (2, 0, "生育登记", "GF", 1, 0, "id_card marriage_info", "生育登记回执",
             "《中华人民共和国人口与计划生育法》",
             {"cond": ("夫妻双方或一方在本市有户籍或居住证",)}),
            (3, 0, "医师执业注册", "XK", 20, 10,
             "id_card doctor_cert employment_letter health_exam",
             "证:医师执业证书", "《中华人民共和国医师法》第十三条;《医师执业注册管理办法》",
             {"tier": "city", "fields": ("institution_name", "practice_scope"),
              "topics": ("医疗卫生",)}),
            (4, 0, "护士执业注册", "XK", 20, 10, "id_card nurse_exam employment_letter health_exam",
             "证:护士执业证书", "《护士条例》第八条",
             {"tier": "city", "fields": ("institution_name",), "topics": ("医疗卫生",)}),
            (5, 0, "医疗机构执业登记", "XK", 45, 30, "id_card clinic_plan address_proof",
             "证:医疗机构执业许可证", "《医疗机构管理条例》第十五条",
             {"tier": "city", "app": "e", "depth": 3, "modes": (), "visits": 1,
              "special": ("现场审查",), "topics": ("医疗卫生",), "fields": ("business_address",)}),
            (6, 0, "公共场所卫生许可", "XK", 20, 5, "biz_licence hygiene_rules address_proof",
             "证:公共场所卫生许可证", "《公共场所卫生管理条例》第八条",
             {"app": "e", "fields": ("business_address", "premises_area"),
              "topics": ("企业开办",)}),
        ),
    ),
    "民政": (
        Sector("07", "civil", "county", "p", ("婚姻登记",), 2, (),
               ("申请人符合法律、法规规定的条件",), ()),
        (
            (1, 0, "内地居民结婚登记", "QR", 0, 0,
             "id_card hukou_book photo marriage_statement", "证:结婚证",
             MARRIAGE + ";《中华人民共和国民法典》第一千零四十九条",
             {"visits": 1, "modes": ("receive_and_forward",), "forms": ("window",),
              "fields": SPOUSE,
              "cond": ("男女双方完全自愿,男年满二十二周岁、女年满二十周岁,双方均无配偶",
                                         "双方当事人亲自到婚姻登记机关申请")}),
            (2, 0, "内地居民离婚登记", "QR", 30, 30,
             "id_card hukou_book marriage_cert divorce_agreement photo", "证:离婚证",
             MARRIAGE + ";《中华人民共和国民法典》第一千零七十六条、第一千零七十七条",
             {"visits": 2, "forms": ("window",), "special": ("离婚冷静期(30日)",),
              "fields": SPOUSE,
              "cond": ("双方自愿离婚并已对子女抚养、财产及债务处理等事项协商一致",)}),
            (3, 0, "补领婚姻登记证", "QR", 30, 1, "id_card hukou_book photo marriage_info",
             "证:结婚证", MARRIAGE, {"visits": 1, "modes": ("receive_and_forward",),
                                   "forms": ("window",), "fields": SPOUSE}),
            (4, 0, "最低生活保障审核确认", "JF", 30, 20, "id_card hukou_book household_check",
             "低保审核确认决定", "《社会救助暂行办法》第十一条", {
                 "depth": 3, "visits": 1, "fields": ("residence_address", "reason"),
                 "topics": ("社会救助",),
                 "cond": ("共同生活的家庭成员人均收入低于当地最低生活保障标准",
                                                  "家庭财产状况符合当地规定")}),
            (5, 0, "特困人员认定", "JF", 30, 20, "id_card hukou_book household_check",
             "特困人员认定决定", "《社会救助暂行办法》第十四条",
             {"depth": 3, "visits": 1, "fields": ("residence_address", "reason"),
              "topics": ("社会救助",)}),
            (6, 0, "临时救助", "JF", 15, 5, "id_card household_check", "临时救助审批决定",
             "《社会救助暂行办法》第四十七条",
             {"depth": 3, "visits": 1, "fields": ("reason",), "topics": ("社会救助",)}),
            (7, 0, "困难残疾人生活补贴和重度残疾人护理补贴", "JF", 20, 15,
             "id_card disability_cert household_check", "补贴审核决定",
             "《国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》",
             {"depth": 4, "modes": CROSS, "visits": 0, "fields": ("bank_account",),
              "topics": ("社会救助", "残疾人服务")}),
            (8, 0, "社会团体成立登记", "XK", 60, 30, "id_card charter_draft founders assets_proof",
             "证:社会团体法人登记证书", "《社会团体登记管理条例》第九条",
             {"tier": "city", "app": "pe", "depth": 3, "fields": ("business_scope",),
              "topics": ("社会组织",), "cond": ("有50个以上的个人会员或者30个以上的单位会员",)}),
            (9, 0, "民办非企业单位成立登记", "XK", 60, 30,
             "id_card charter_draft founders assets_proof", "证:民办非企业单位登记证书",
             "《民办非企业单位登记管理暂行条例》",
             {"tier": "city", "app": "pe", "depth": 3, "fields": ("business_scope",),
              "topics": ("社会组织",)}),
        ),
    ),
    "医疗保障": (
        Sector("08", "medical", "city", "p", ("社会保障", "医疗保障"), 4, CROSS,
               ("申请人已参加本统筹地区基本医疗保险",), ()),
        (
            (1, 0, "基本医疗保险参保登记", "GF", 5, 0, "id_card", "参保登记回执",
             SOCIAL + "第二十三条", {"tier": "county"}),
            (2, 0, "基本医疗保险关系转移接续", "GF", 15, 10, "id_card medical_transfer",
             "转移接续办结告知",
             SOCIAL + "第三十二条;《流动就业人员基本医疗保障关系转移接续暂行办法》",
             {"fields": ("from_region",), "modes": ("fully_online", "joint")}),
            (3, 1, "异地长期居住人员异地就医备案", "GF", 1, 0,
             "id_card long_stay_commitment", "备案回执",
             "《国家医保局 财政部关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》",
             {"fields": ("medical_place", "stay_start"),
              "topics": ("医疗保障", "跨省通办")}),
            (3, 2, "临时外出就医人员异地就医备案", "GF", 1, 0, "id_card", "备案回执",
             "《国家医保局 财政部关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》",
             {"fields": ("medical_place", "stay_start", "stay_end")}),
            (4, 0, "门诊慢特病病种待遇认定", "QR", 20, 10, "id_card chronic_case",
             "待遇认定结果", MEDICAL, {"fields": ("reason",), "special": ("专家评审",)}),
            (5, 0, "医疗费用手工(零星)报销", "JF", 30, 20, "id_card receipts diagnosis bank_card",
             "报销结算单", MEDICAL,
             {"depth": 3, "modes": ("receive_and_forward",), "visits": 1,
              "fields": ("bank_account", "bank_name")}),
            (6, 0, "生育津贴支付", "JF", 20, 10, "id_card birth_cert medical_insured bank_card",
             "生育津贴支付通知", SOCIAL + "第五十六条",
             {"fields": ("bank_account", "bank_name"), "topics": ("生育收养", "医疗保障")}),
            (7, 0, "参保人员参保信息查询打印", "GF", 0, 0, "id_card medical_insured",
             "基本医疗保险参保凭证", MEDICAL, {}),
            (8, 0, "医疗保障定点医药机构申请", "QT", 30, 20,
             "biz_licence pharmacy_docs", "定点协议", "《医疗机构医疗保障定点管理暂行办法》",
             {"app": "e", "depth": 3, "modes": (), "visits": 1, "special": ("专家评估",)}),
        ),
    ),
    "交通运输": (
        Sector("09", "transport", "city", "e", ("交通出行", "企业开办"), 4, CROSS,
               ("申请人符合法律、法规规定的条件",),
               ("transport_scope", "vehicle_count")),
        (
            (1, 0, "道路货物运输经营许可", "XK", 20, 5,
             "biz_licence vehicle_commitment driver_qualification safety_rules",
             "证:道路运输经营许可证", ROAD + "第二十二条;《道路货物运输及站场管理规定》",
             {"cond": VEHICLES_READY}),
            (2, 0, "道路旅客运输经营许可", "XK", 20, 10,
             "biz_licence vehicle_commitment driver_qualification safety_rules",
             "证:道路运输经营许可证", ROAD + "第八条;《道路旅客运输及客运站管理规定》",
             {"depth": 3, "modes": (), "visits": 1, "cond": VEHICLES_READY}),
            (3, 0, "道路运输证配发", "XK", 10, 1, "biz_licence vehicle_licence", "证:道路运输证",
             ROAD, {"fields": ("plate_number",)}),
            (4, 1, "道路运输从业人员从业资格证核发(货运)", "XK", 10, 3,
             "id_card driving_licence exam_result", "证:道路运输从业人员从业资格证",
             ROAD + ";《道路运输从业人员管理规定》", {"app": "p", "fields": ("vehicle_class",)}),
            (4, 2, "道路运输从业人员从业资格证换证补证", "XK", 10, 1,
             "id_card driver_qualification", "证:道路运输从业人员从业资格证",
             "《道路运输从业人员管理规定》", {"app": "p", "fields": ("card_reason",)}),
            (5, 0, "网络预约出租汽车经营许可", "XK", 20, 15,
             "biz_licence platform_capacity safety_rules", "证:网络预约出租汽车经营许可证",
             "《网络预约出租汽车经营服务管理暂行办法》第五条",
             {"depth": 3, "modes": (), "visits": 1}),
            (6, 0, "网络预约出租汽车运输证核发", "XK", 10, 3, "vehicle_licence id_card",
             "证:网络预约出租汽车运输证", "《网络预约出租汽车经营服务管理暂行办法》第十二条",
             {"app": "p", "fields": ("plate_number",)}),
            (7, 0, "机动车维修经营备案", "BA", 5, 0, "biz_licence repair_filing", "备案回执",
             ROAD + "第三十七条;《机动车维修管理规定》", {}),
            (8, 0, "机动车驾驶员培训经营备案", "BA", 5, 0, "biz_licence training_filing",
             "备案回执", ROAD + ";《机动车驾驶员培训管理规定》", {}),
            (9, 0, "公路超限运输许可", "XK", 5, 2, "vehicle_licence overload_plan",
             "证:超限运输车辆通行证",
             "《中华人民共和国公路法》第五十条;《超限运输车辆行驶公路管理规定》",
             {"fields": ("plate_number",)}),
            (10, 0, "涉路施工许可", "XK", 20, 10, "road_works traffic_opinion", "许可决定书",
             "《公路安全保护条例》第二十七条", {"depth": 3, "modes": (), "visits": 1,
                                           "fields": ("road_name", "works_period"),
                                           "topics": ("工程建设",)}),
        ),
    ),
    "住房和城乡建设": (
        Sector("10", "housing", "city", "e", ("工程建设",), 4, (),
               ("申请人符合法律、法规规定的条件",),
               ("project_name", "project_address")),
        (
            (1, 0, "建筑工程施工许可证核发", "XK", 7, 3,
             "biz_licence plan_permit construction_contract drawing_review safety_measures"
             " fund_commitment", "证:建筑工程施工许可证",
             "《中华人民共和国建筑法》第七条、第八条;《建筑工程施工许可管理办法》",
             {"fields": ("building_area", "contract_price"),
              "cond": ("已经办理该建筑工程用地批准手续", "已取得建设工程规划许可证",
                       "已经确定施工企业", "有保证工程质量和安全的具体措施")}),
            (2, 0, "商品房预售许可", "XK", 20, 10, "biz_licence construction_permit presale_plan",
             "证:商品房预售许可证", "《城市商品房预售管理办法》第七条",
             {"depth": 3, "visits": 1, "fields": ("building_area",), "topics": ("住房",)}),
            (3, 0, "城市建筑垃圾处置核准", "XK", 20, 5, "biz_licence waste_plan",
             "核准决定书",
             "《国务院对确需保留的行政审批项目设定行政许可的决定》;《城市建筑垃圾管理规定》",
             {}),
            (4, 0, "城镇污水排入排水管网许可", "XK", 15, 7, "biz_licence drainage_plan",
             "证:排水许可证", "《城镇排水与污水处理条例》第二十一条", {}),
            (5, 0, "燃气经营许可", "XK", 20, 15, "biz_licence gas_facilities safety_rules",
             "证:燃气经营许可证", "《城镇燃气管理条例》第十五条",
             {"depth": 3, "visits": 1, "special": ("专家评审",)}),
            (6, 0, "房屋建筑和市政基础设施工程竣工验收备案", "BA", 15, 5,
             "biz_licence completion_report", "竣工验收备案证明",
             "《建设工程质量管理条例》第四十九条",
             {}),
            (7, 0, "城市道路挖掘许可(通信管线及5G基站配套)", "XK", 20, 5,
             "biz_licence road_plan traffic_opinion", "许可决定书",
             "《城市道路管理条例》第三十条、第三十三条",
             {"fields": ("road_name", "works_period"), "topics": ("工程建设", "5G基站建设")}),
            (8, 0, "临时占用城市道路许可(通信设施施工)", "XK", 20, 5,
             "biz_licence road_plan traffic_opinion", "许可决定书",
             "《城市道路管理条例》第三十一条",
             {"fields": ("road_name", "works_period"), "topics": ("工程建设", "5G基站建设")}),
            (9, 0, "房屋租赁登记备案", "BA", 5, 0, "id_card lease_contract property_info",
             "租赁登记备案证明", "《商品房屋租赁管理办法》第十四条",
             {"app": "p", "fields": ("house_address", "rent_monthly"), "topics": ("住房",)}),
        ),
    ),
    "规划和自然资源": (
        Sector("11", "planning", "city", "e", ("工程建设",), 4, (),
               ("建设项目符合国土空间规划和用途管制要求",),
               ("project_name", "project_address")),
        (
            (1, 0, "建设工程规划许可证核发", "XK", 20, 10,
             "biz_licence land_plan design_scheme", "证:建设工程规划许可证",
             "《中华人民共和国城乡规划法》第四十条", {"fields": ("building_area",),
                                                   "special": ("专家评审(需要时)", "批前公示")}),
            (2, 0, "建设用地规划许可证核发", "XK", 20, 10, "biz_licence project_info",
             "证:建设用地规划许可证", "《中华人民共和国城乡规划法》第三十七条、第三十八条", {}),
            (3, 0, "建设项目用地预审与选址意见书核发", "XK", 20, 15, "biz_licence project_info",
             "建设项目用地预审与选址意见书",
             "《中华人民共和国土地管理法》第五十二条;《中华人民共和国城乡规划法》第三十六条",
             {"depth": 3, "visits": 1}),
            (4, 0, "乡村建设规划许可证核发", "XK", 20, 10, "id_card design_scheme",
             "证:乡村建设规划许可证", "《中华人民共和国城乡规划法》第四十一条",
             {"app": "p"}),
            (5, 0, "公共通信基础设施(5G基站)规划选址审核", "QT", 10, 5,
             "biz_licence site_data", "规划选址审核意见",
             "《中华人民共和国城乡规划法》;《中华人民共和国电信条例》",
             {"fields": ("station_count",), "topics": ("工程建设", "5G基站建设")}),
        ),
    ),
    "生态环境": (
        Sector("12", "ecology", "city", "e", ("工程建设",), 4, CROSS,
               ("建设项目符合生态环境分区管控要求",), ("project_name", "project_address")),
        (
            (1, 0, "建设项目环境影响报告表审批", "XK", 30, 15, "biz_licence eia_report",
             "审批意见", "《中华人民共和国环境影响评价法》第二十二条",
             {"modes": (), "special": ("技术评估", "公示")}),
            (2, 0, "移动通信基站(5G)建设项目环境影响登记表备案", "BA", 0, 0,
             "biz_licence eia_form", "备案回执",
             "《中华人民共和国环境影响评价法》;《建设项目环境影响登记表备案管理办法》",
             {"fields": ("station_count",), "topics": ("工程建设", "5G基站建设")}),
            (3, 0, "排污许可证核发", "XK", 20, 15, "biz_licence pollutant_plan",
             "证:排污许可证", "《排污许可管理条例》第十三条", {"modes": ()}),
        ),
    ),
    "经济和信息化": (
        Sector("13", "industry", "city", "e", ("5G基站建设",), 4, (),
               ("申请人为依法取得频率使用许可的基础电信业务经营者",), ("station_count",)),
        (
            (1, 0, "公众移动通信基站(5G)无线电台执照核发", "XK", 20, 5,
             "biz_licence freq_licence radio_tech site_data", "证:无线电台执照",
             "《中华人民共和国无线电管理条例》第二十七条",
             {"fields": ("frequency_band",)}),
            (2, 0, "公众移动通信基站(5G)无线电台执照变更注销", "XK", 20, 5,
             "biz_licence radio_tech", "证:无线电台执照",
             "《中华人民共和国无线电管理条例》", {"fields": ("change_before", "change_after")}),
        ),
    ),
    "发展改革": (
        Sector("14", "reform", "city", "e", ("工程建设", "投资项目"), 4, CROSS,
               ("项目不属于核准和禁止类项目",), ("project_name", "project_address")),
        (
            (1, 0, "企业投资项目备案", "BA", 0, 0, "biz_licence investment_info", "项目备案证明",
             "《企业投资项目核准和备案管理条例》第十三条", {"fields": ("investment",)}),
            (2, 0, "企业投资项目核准", "XK", 20, 15, "biz_licence investment_info project_info",
             "核准文件", "《企业投资项目核准和备案管理条例》第六条",
             {"depth": 3, "visits": 1, "fields": ("investment",), "special": ("评估论证",)}),
        ),
    ),
    "政务服务管理": (
        Sector("15", "service", "both", "pe", ("帮办代办",), 4, CROSS,
               ("申请人为自然人或者依法设立的企业",), ("reason",)),
        (
            (1, 0, "政务服务事项帮办代办申请", "GF", 3, 1, "id_card proxy_letter",
             "帮办代办服务确认", "《国务院关于加快推进政务服务标准化规范化便利化的指导意见》", {}),
            (2, 0, "跨省通办异地代收代办申请", "GF", 3, 1, "id_card proxy_letter", "代收代办回执",
             "《国务院办公厅关于加快推进政务服务“跨省通办”的指导意见》",
             {"modes": FORWARD, "topics": ("跨省通办",)}),
        ),
    ),
}


class ItemSpec(NamedTuple):
    basic_code: str
    name: str
    item_type: str
    legal_days: int
    promised_days: int
    materials: tuple[str, ...]
    result: str
    legal_basis: str
    dept: str
    tier: str
    applicants: str
    topics: tuple[str, ...]
    depth: int
    modes: tuple[str, ...]
    visits: int
    forms: tuple[str, ...]
    fees: tuple[str, ...]
    conditions: tuple[str, ...]
    fields: tuple[str, ...]
    special: tuple[str, ...]
    description: str


def _spec(sector: Sector, row: Row) -> ItemSpec:
    main, sub, name, abbrev, legal, promised, materials, result, basis, extra = row
    item_type, type_code = ITEM_TYPES[abbrev]
    depth = extra.get("depth", sector.depth)
    modes = tuple(m for m in extra.get("modes", sector.modes)
                  if depth == 4 or m != "fully_online")
    conditions = extra.get("cond", sector.conditions)
    return ItemSpec(
        basic_code=f"00{sector.code}{type_code}{main:03d}{sub:03d}", name=name,
        item_type=item_type, legal_days=legal, promised_days=promised,
        materials=tuple(materials.split()), result=result, legal_basis=basis,
        dept=sector.dept, tier=extra.get("tier", sector.tier),
        applicants=extra.get("app", sector.applicants),
        topics=extra.get("topics", sector.topics), depth=depth, modes=modes,
        visits=extra.get("visits", 0 if depth == 4 else 1),
        forms=extra.get("forms", ("window", "online", "mobile")),
        fees=extra.get("fees", ()), conditions=conditions,
        fields=(*sector.fields, *extra.get("fields", ())),
        special=extra.get("special", ()),
        description=extra.get("desc", f"{name}。受理条件: {';'.join(conditions)}。"),
    )


ITEMS: tuple[ItemSpec, ...] = tuple(
    _spec(sector, row) for sector, rows in SECTORS.values() for row in rows
)
ITEMS_BY_CODE = {item.basic_code: item for item in ITEMS}
TIER_LEVELS = {"city": [2, 3], "county": [3, 4], "both": [2, 3, 4]}

# ---------------------------------------------------------------- deliberate differences

# (basic code, region, element, local value, why, legal basis, approver). Elements:
# promised_days, add_material, drop_material, fees (tuple of FEES keys), visits,
# online_depth. A row without a legal basis is a difference nobody approved (待整改).
class LocalDifference(NamedTuple):
    basic_code: str
    region_code: str
    element: str
    value: Any
    reason: str
    legal_basis: str = ""
    approver: str = ""


LOCAL_DIFFERENCES: tuple[LocalDifference, ...] = (
    LocalDifference("000108005001", "310000", "promised_days", 3,
                    "上海推行公积金提取“3日办结”,短于标准承诺时限",
                    "《上海市优化营商环境条例》第三十九条", "上海市政务服务办公室"),
    LocalDifference("000108005002", "330100", "drop_material", "lease_contract",
                    "杭州通过租赁备案共享数据核验,不再要求提交租赁合同",
                    "《浙江省公共数据条例》第二十四条", "浙江省大数据发展管理局"),
    LocalDifference("000108005002", "330100", "add_material", "lease_registration",
                    "杭州以租赁登记备案证明替代租赁合同",
                    "《浙江省公共数据条例》第二十四条", "浙江省大数据发展管理局"),
    LocalDifference("000301004001", "500103", "add_material", "lease_registration",
                    "渝中区额外要求房屋租赁登记备案证明(未列入统异弹性空间,待整改)"),
    LocalDifference("000501001001", "310000", "promised_days", 1, "上海企业开办“一日办结”",
                    "《上海市优化营商环境条例》第十三条", "上海市政务服务办公室"),
    LocalDifference("000501007001", "340104", "promised_days", 5,
                    "蜀山区食品经营许可承诺5个工作日办结",
                    "《安徽省优化营商环境条例》第二十六条", "安徽省数据资源管理局"),
    LocalDifference("000302004003", "310115", "fees", (),
                    "浦东新区对居住证换领补领免收工本费(地方减免政策)",
                    "《上海市居住证管理办法》第三十一条", "上海市政务服务办公室"),
    LocalDifference("001101001000", "330100", "promised_days", 5,
                    "杭州“多规合一”审批提速,承诺5个工作日",
                    "《浙江省优化营商环境条例》第三十条", "浙江省大数据发展管理局"),
    LocalDifference("000402001002", "320100", "online_depth", 4,
                    "南京驾驶证补证全程网办,邮政寄递,无需到现场",
                    "《江苏省优化营商环境条例》第四十一条", "江苏省政务服务管理办公室"),
    LocalDifference("000402001002", "320100", "visits", 0, "南京驾驶证补证零跑动",
                    "《江苏省优化营商环境条例》第四十一条", "江苏省政务服务管理办公室"),
    LocalDifference("000204006000", "510104", "add_material", "labour_contract",
                    "锦江区额外要求提交劳动合同(与标准不一致,待规范)"),
    LocalDifference("001001001000", "500000", "add_material", "quality_supervision",
                    "重庆要求同时提交工程质量安全监督登记表",
                    "《重庆市建设工程质量管理条例》第二十一条", "重庆市政府办公厅"),
)


# ---------------------------------------------------------------- builders


def application_form(item_name: str) -> dict[str, Any]:
    """The application form as the first material: generated from the online form."""
    return {"code": "application_form", "name": f"《{item_name}申请表》", "required": True,
            "key": True, "deficiency_allowed": False, "form": "electronic", "count": 1,
            "source": "upload", "licence_type": None, "dataset": None,
            "note": "网上申请时根据填报内容自动生成,窗口申请的现场填写"}


def build_material(key: str) -> dict[str, Any]:
    """One Material of the guide from the MATERIALS table."""
    name, source, ref, form, key_material, deficiency, note = MATERIALS[key]
    return {
        "code": key, "name": name, "required": True, "key": key_material,
        "deficiency_allowed": deficiency, "form": form, "count": 1, "source": source,
        "licence_type": ref if source == "licence" else None,
        "dataset": ref if source == "shared_data" else None, "note": note,
    }


def build_steps(promised: int, issues_licence: bool) -> list[dict[str, Any]]:
    """办理流程 whose per-step days add up to the promised limit."""
    accept = 1 if promised >= 3 else 0
    decide = 1 if promised >= 2 else 0
    review = promised - accept - decide
    last, delivery = (("制证送达", "电子证照同步推送至证照库,纸质证照窗口领取或邮寄")
                      if issues_licence else ("办结", "办理结果通过网上、短信或窗口告知申请人"))
    return [
        {"name": "申请", "days": 0, "description": "通过网上、掌上或窗口提交申请"},
        {"name": "受理", "days": accept,
         "description": "材料齐全、符合法定形式的予以受理,否则一次性告知补正"},
        {"name": "审查", "days": review, "description": "对申请材料进行审查,需要时现场核查"},
        {"name": "决定", "days": decide, "description": "作出准予或者不予的决定"},
        {"name": last, "days": 0, "description": delivery},
    ]


def build_result(item: ItemSpec) -> dict[str, Any]:
    """审批结果: an e-licence, a document or nothing."""
    if item.result.startswith("证:"):
        kind = item.result[2:]
        return {"name": kind, "kind": "licence", "licence_type": kind}
    if item.result:
        return {"name": item.result, "kind": "document", "licence_type": None}
    return {"name": "办结告知(无审批结果文书)", "kind": "none", "licence_type": None}


def window_phone(region: DemoRegion, dept: str) -> str:
    """The national hotline where there is one, else a (fictional) local number."""
    if dept in HOTLINES:
        return f"{region.area_code}-{HOTLINES[dept]}"
    number = int.from_bytes(_digest("phone", region.code, dept)[:4], "big") % 10_000_000
    return f"{region.area_code}-{6 + number % 3}{number:07d}"


def build_guide(item: ItemSpec, region: DemoRegion) -> dict[str, Any]:
    """The standard guide of `item` as delivered in `region` (before local differences)."""
    applicants = {"p": ["person"], "e": ["enterprise"], "pe": ["person", "enterprise"]}
    return {
        "item_kind": "immediate" if item.promised_days == 0 else "promised",
        "applicant_types": applicants[item.applicants],
        "acceptance_conditions": list(item.conditions),
        "materials": [application_form(item.name), *(build_material(k) for k in item.materials)],
        "steps": build_steps(item.promised_days, item.result.startswith("证:")),
        "legal_days": item.legal_days,
        "promised_days": item.promised_days,
        "fees": [dict(zip(("name", "amount", "basis"), FEES[k], strict=True)) for k in item.fees],
        "handling_forms": list(item.forms),
        "online_depth": item.depth,
        "visits": item.visits,
        "cross_region_modes": list(item.modes),
        "special_procedures": list(item.special),
        "legal_basis": item.legal_basis,
        "result": build_result(item),
        "window_address": region.address,
        "window_phone": window_phone(region, item.dept),
        "office_hours": region.hours,
    }


def build_standard_guide(item: ItemSpec) -> dict[str, Any]:
    """The standard guide of `item` (schemas.StandardGuide): the reference every region's
    guide is compared with."""
    guide = build_guide(item, CITIES[0])
    for key in ("window_address", "window_phone", "office_hours"):
        del guide[key]
    guide["competent_department"] = DEPARTMENT_KINDS[item.dept][0]
    return guide


def apply_difference(guide: dict[str, Any], element: str, value: Any) -> None:
    """Change one element of a guide as a LOCAL_DIFFERENCES row says."""
    if element == "promised_days":
        guide["promised_days"] = value
        guide["steps"] = build_steps(value, guide["result"]["kind"] == "licence")
    elif element == "add_material":
        guide["materials"].append(build_material(value))
    elif element == "drop_material":
        guide["materials"] = [m for m in guide["materials"] if m["code"] != value]
    elif element == "fees":
        guide["fees"] = [dict(zip(("name", "amount", "basis"), FEES[k], strict=True))
                         for k in value]
    elif element in ("visits", "online_depth"):
        guide[element] = value
    else:
        raise ValueError(f"unknown variance element {element!r}")


def _places(tier: str) -> list[DemoRegion]:
    counties = [r for r, _, _ in COUNTIES]
    return {"city": list(CITIES), "county": counties, "both": [*CITIES, *counties]}[tier]


def build_items() -> list[dict[str, Any]]:
    """The standard catalog (基本目录) rows of the document."""
    return [
        {"basic_code": i.basic_code, "name": i.name, "item_type": i.item_type,
         "use_levels": TIER_LEVELS[i.tier], "legal_basis": i.legal_basis,
         "description": i.description, "topics": list(i.topics)}
        for i in ITEMS
    ]


def build_implementations(
    departments: dict[tuple[str, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every item in every demo region of its tier, with local differences applied."""
    variances: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for rule in LOCAL_DIFFERENCES:
        variances.setdefault((rule.basic_code, rule.region_code), []).append(
            (rule.element, rule.value))
    out = []
    for item in ITEMS:
        for region in _places(item.tier):
            dept = departments[(region.code, item.dept)]
            guide = build_guide(item, region)
            for element, value in variances.get((item.basic_code, region.code), []):
                apply_difference(guide, element, value)
            out.append({
                "basic_code": item.basic_code,
                "department_credit_code": dept["credit_code"],
                "region_code": region.code,
                "level": region.level,
                "implementation_code": f"{dept['credit_code']}{region.level}{item.basic_code}",
                "name": f"{item.name}({region.short})",
                "publish": True,
                "guide": guide,
                "form_schema": build_form_schema(item.name, item.applicants, item.fields),
            })
    return out


def build_demo_catalog() -> dict[str, Any]:
    """The whole demo catalog as one exchange document (docs/catalog-format.md)."""
    departments = build_departments()
    return {
        "format": FORMAT,
        "departments": list(departments.values()),
        "items": build_items(),
        "implementations": build_implementations(departments),
    }
