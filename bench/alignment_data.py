"""Data for bench/catalog_alignment.py: local item lists as regions write them.

- `demo_standards()`: the demo catalog's 147 standard items as the matcher sees them.
- `synthetic_standards(n)`: n further standard items composed from the vocabulary of
  items regions keep (objects × acts × qualifiers), each with a competent department,
  materials and limits, so a 10k catalog has the near-twins a real one has.
- `rename(standard, rng, ...)`: one local line for a standard item, renamed the ways
  local lists rename items (region prefixes, boilerplate suffixes, abbreviations, local
  words for the same act, qualifiers moved out of brackets, words reordered), with the
  department as the region writes it, the item type sometimes missing or wrong, a share
  of the materials renamed or dropped, and limits sometimes changed.

The labelled set is `rename` over the demo items with seed TEST_SEED (and the hand-written
bench/alignment_labelled.py), split by item into dev and test (`split`); whatever the
matcher learns from (bench: simulated reviewer decisions) is drawn from synthetic items
only, with another seed, so no labelled line and no labelled item is ever learnt from.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from tongban.catalog import demo_data
from tongban.catalog.matcher import Line, Standard

TEST_SEED, TRAIN_SEED, LOAD_SEED = 20261203, 7, 99

CITY_PREFIXES = ("", "", "", "成都市", "四川省", "市", "本市", "重庆市", "区级")
SUFFIXES = ("", "", "", "办理", "申请", "业务", "业务办理", "事项", "服务", "手续办理")
# How local lists shorten or reword the catalogue's words (left: catalog, right: local).
RENAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("住房公积金", ("公积金", "住房公积金")),
    ("社会保障卡", ("社保卡", "社会保障卡")),
    ("居民身份证", ("身份证", "居民身份证")),
    ("机动车驾驶证", ("驾驶证", "驾照", "机动车驾驶证")),
    ("机动车行驶证", ("行驶证", "车辆行驶证")),
    ("有限责任公司", ("有限公司", "公司")),
    ("个体工商户", ("个体户", "个体工商户")),
    ("农民专业合作社", ("合作社", "农民合作社")),
    ("网络预约出租汽车", ("网约车", "网络预约出租车")),
    ("设立登记", ("开业登记", "注册登记", "设立", "登记注册")),
    ("注销登记", ("注销", "注销登记")),
    ("变更登记", ("变更", "变更备案")),
    ("申领", ("申请", "办理", "申领")),
    ("补领", ("补办", "补发")),
    ("换领", ("换发", "换证")),
    ("提取", ("支取", "提取")),
    ("核发", ("办理", "发放", "核发")),
    ("出具", ("开具", "打印")),
    ("转移接续", ("转移", "转续", "接续")),
    ("遗失", ("丢失", "遗失")),
    ("许可", ("审批", "许可")),
    ("审核确认", ("审批", "认定")),
    ("首次", ("初次", "首次")),
    ("基本医疗保险", ("医保", "医疗保险")),
)
MATERIAL_RENAMES = (("居民身份证", "身份证复印件"), ("营业执照", "营业执照副本"),
                    ("居民户口簿", "户口本"), ("结婚证", "结婚证原件"),
                    ("社会保障卡", "社保卡"))
DEPARTMENT_RENAMES = (("住房公积金管理中心", "公积金中心"),
                      ("人力资源和社会保障局", "人社局"), ("市场监督管理局", "市场监管局"),
                      ("卫生健康委员会", "卫健委"), ("医疗保障局", "医保局"),
                      ("交通运输局", "交通局"), ("住房和城乡建设局", "住建局"),
                      ("规划和自然资源局", "规划资源局"), ("生态环境局", "环保局"),
                      ("发展和改革委员会", "发改委"), ("经济和信息化局", "经信局"),
                      ("政务服务管理局", "政务服务中心"), ("公安局交通管理局", "交警支队"))


def demo_standards() -> list[Standard]:
    """The demo catalog's items: names, types, their departments, materials, limits."""
    departments = demo_data.build_departments()
    out = []
    for item in demo_data.ITEMS:
        kind = demo_data.DEPARTMENT_KINDS[item.dept][0]
        names = {d["name"] for (region, key), d in departments.items() if key == item.dept}
        out.append(Standard(
            key=item.basic_code, name=item.name, item_type=item.item_type,
            departments=(kind, *sorted(names)),
            materials=tuple(demo_data.MATERIALS[m][0] for m in item.materials),
            legal_days=item.legal_days, promised_days=item.promised_days))
    return out


OBJECTS = (
    ("建筑工程", "住房和城乡建设局"), ("供热经营", "住房和城乡建设局"),
    ("物业服务", "住房和城乡建设局"), ("房地产开发", "住房和城乡建设局"),
    ("酒类批发", "市场监督管理局"), ("保健食品生产", "市场监督管理局"),
    ("化妆品生产", "市场监督管理局"), ("眼镜验配", "市场监督管理局"),
    ("压力容器检验", "市场监督管理局"), ("计量器具", "市场监督管理局"),
    ("广告发布", "市场监督管理局"), ("电梯维保", "市场监督管理局"),
    ("危险货物运输", "交通运输局"), ("城市公交线路", "交通运输局"),
    ("巡游出租车驾驶员", "交通运输局"), ("汽车租赁", "交通运输局"), ("港口经营", "交通运输局"),
    ("水路运输", "交通运输局"), ("乡村医生执业", "卫生健康委员会"),
    ("药师执业", "卫生健康委员会"), ("中医诊所备案", "卫生健康委员会"),
    ("饮用水供水单位卫生", "卫生健康委员会"), ("放射诊疗", "卫生健康委员会"),
    ("母婴保健技术服务", "卫生健康委员会"), ("职业技能培训", "人力资源和社会保障局"),
    ("职业介绍", "人力资源和社会保障局"), ("企业年金", "人力资源和社会保障局"),
    ("技工学校", "人力资源和社会保障局"), ("养老机构", "民政局"), ("基金会", "民政局"),
    ("社会服务机构", "民政局"), ("殡葬服务", "民政局"), ("慈善组织", "民政局"),
    ("建设用地土壤污染", "生态环境局"), ("危险废物经营", "生态环境局"), ("辐射安全", "生态环境局"),
    ("取水", "水务局"), ("河道采砂", "水务局"), ("水土保持方案", "水务局"),
    ("林木采伐", "林业局"), ("野生动物驯养繁殖", "林业局"), ("种子生产经营", "农业农村局"),
    ("农药经营", "农业农村局"), ("兽药经营", "农业农村局"), ("渔业捕捞", "农业农村局"),
    ("生猪定点屠宰", "农业农村局"), ("烟花爆竹经营", "应急管理局"),
    ("危险化学品经营", "应急管理局"), ("安全生产", "应急管理局"),
    ("出版物经营", "文化广电旅游局"), ("印刷经营", "文化广电旅游局"),
    ("营业性演出", "文化广电旅游局"), ("旅行社", "文化广电旅游局"),
    ("网吧经营", "文化广电旅游局"), ("广播电视节目制作", "文化广电旅游局"),
    ("文物保护工程", "文物局"), ("民办学校", "教育局"), ("校外培训机构", "教育局"),
    ("教师资格", "教育局"), ("体育经营", "体育局"), ("高危险性体育项目", "体育局"),
    ("宗教活动场所", "民族宗教事务局"), ("人防工程", "人民防空办公室"),
    ("消防设计", "住房和城乡建设局"), ("城市绿化", "园林局"), ("户外广告设置", "城市管理局"),
    ("城市桥梁施工", "城市管理局"), ("建筑垃圾运输", "城市管理局"),
    ("档案", "档案局"), ("测绘资质", "规划和自然资源局"), ("采矿权", "规划和自然资源局"),
    ("地质灾害防治", "规划和自然资源局"), ("粮食收购", "发展和改革委员会"),
    ("固定资产投资项目节能审查", "发展和改革委员会"), ("业余无线电", "经济和信息化局"),
    ("电力业务", "经济和信息化局"), ("成品油零售", "商务局"), ("拍卖业务", "商务局"),
    ("对外劳务合作", "商务局"), ("气象探测", "气象局"), ("防雷装置", "气象局"),
)
ACTS = (
    ("许可(新办)", "行政许可"), ("许可(变更)", "行政许可"), ("许可(延续)", "行政许可"),
    ("许可(注销)", "行政许可"), ("许可证补领", "行政许可"), ("备案", "行政备案"),
    ("变更备案", "行政备案"), ("资格认定", "行政确认"), ("登记", "行政确认"),
    ("审批", "行政许可"), ("核准", "行政许可"), ("年度报告公示", "公共服务"),
    ("证明出具", "公共服务"), ("信息查询", "公共服务"), ("补贴申领", "行政给付"),
)
QUALIFIERS = ("", "(一级)", "(二级)", "(三级)", "(企业)", "(个人)", "(市级权限)",
              "(县级权限)", "(告知承诺)", "(分支机构)", "(外商投资)", "(简易程序)",
              "(首次)", "(临时)")
MATERIAL_WORDS = ("申请书", "场所使用证明", "管理制度", "人员名单", "设备清单",
                  "技术方案", "承诺书", "资质证明", "平面布置图", "检测报告")


def synthetic_standards(n: int) -> list[Standard]:
    """n standard items composed from objects × acts × qualifiers (deterministic)."""
    out = []
    for number in range(n):
        obj, dept = OBJECTS[number % len(OBJECTS)]
        act, item_type = ACTS[(number // len(OBJECTS)) % len(ACTS)]
        qualifier = QUALIFIERS[(number // (len(OBJECTS) * len(ACTS))) % len(QUALIFIERS)]
        mats = tuple(obj + MATERIAL_WORDS[(number + k * 3) % len(MATERIAL_WORDS)]
                     for k in range(3))
        out.append(Standard(
            key=f"99{number:010d}", name=f"{obj}{act}{qualifier}", item_type=item_type,
            departments=(dept,), materials=("营业执照", *mats),
            legal_days=(5, 10, 15, 20, 30)[number % 5], promised_days=(1, 3, 5)[number % 3]))
    return out


def _reword(name: str, rng: random.Random) -> str:
    for catalog_word, local_words in RENAMES:
        if catalog_word in name and rng.random() < 0.7:
            name = name.replace(catalog_word, rng.choice(local_words), 1)
    if "(" in name and name.endswith(")") and rng.random() < 0.6:
        head, _, tail = name.partition("(")
        tail = tail.rstrip(")")
        name = rng.choice((f"{head}{tail}", f"{tail}{head}", f"{head}-{tail}",
                           f"{head}（{tail}）"))
    if "提取住房公积金" in name or ("提取公积金" in name and rng.random() < 0.5):
        head, _, _ = name.partition("提取")
        name = f"公积金{head}提取" if rng.random() < 0.5 else name
    if name.startswith("住房公积金个人") or name.startswith("公积金个人"):
        name = name.replace("住房公积金个人", "个人住房公积金").replace("公积金个人",
                                                                       "个人公积金")
    return name


def _department(dept: str, region: str, rng: random.Random) -> str:
    for long, short in DEPARTMENT_RENAMES:
        if long in dept and rng.random() < 0.5:
            dept = dept.replace(long, short)
    for city in ("成都市", "重庆市", "上海市", "南京市", "杭州市", "合肥市"):
        dept = dept.replace(city, "")
    return rng.choice(("", "市", region)) + dept if rng.random() < 0.8 else ""


def rename(standard: Standard, rng: random.Random, region: str = "成都市") -> Line:
    """One local line for `standard`, as a region's list would have it."""
    name = rng.choice(CITY_PREFIXES) + _reword(standard.name, rng) + rng.choice(SUFFIXES)
    dept_source = standard.departments[-1] if standard.departments else ""
    types = {t for _, t in ACTS}
    roll = rng.random()
    item_type = standard.item_type if roll < 0.7 else "" if roll < 0.9 else rng.choice(
        sorted(types - {standard.item_type}))
    materials: tuple[str, ...] = ()
    if rng.random() < 0.6:
        kept = [m for m in standard.materials if rng.random() < 0.8]
        for old, new in MATERIAL_RENAMES:
            kept = [new if m == old and rng.random() < 0.6 else m for m in kept]
        materials = tuple(kept)
    legal = standard.legal_days if rng.random() < 0.7 else None
    promised = standard.promised_days if rng.random() < 0.5 else None
    if promised is not None and rng.random() < 0.2:
        promised = max(0, promised - 1)
    return Line(name=name, department=_department(dept_source, region, rng),
                item_type=item_type, materials=materials, legal_days=legal,
                promised_days=promised)


def split(standards: list[Standard]) -> tuple[set[str], set[str]]:
    """The labelled items in two halves (alternate items of the catalog's order, so both
    cover every department): `dev`, whose errors one may look at while tuning the
    matcher, and `test`, held out, on which the accuracy is reported."""
    keys = [s.key for s in standards]
    return set(keys[0::2]), set(keys[1::2])


def labelled(standards: list[Standard], per_item: int, seed: int
             ) -> Iterator[tuple[Line, str]]:
    """(local line, the standard item it means) for every item, `per_item` times."""
    rng = random.Random(seed)
    for standard in standards:
        for _ in range(per_item):
            yield rename(standard, rng), standard.key
