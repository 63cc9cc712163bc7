"""Demo registries: the sharing catalog owned by 成都 departments, and records for every
demo person and enterprise, consistent with identity (same names, ID numbers, credit
codes, legal representative), imported as CSV through the importer like a real feed.

张伟 and 陈静 are married, share a flat and a daughter; 李娜 works in 成都 with a
residence registration; 刘洋 is out of work (pension paused, 临时救助 last spring); 杨帆
holds a 残疾人证 and receives 最低生活保障. 蜀锦 is on the red list; 浦江 broke a
commitment made under 告知承诺.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.catalog import service as catalog
from tongban.catalog.demo_data import build_departments, org_body
from tongban.catalog.models import Department
from tongban.catalog.schemas import DepartmentIn
from tongban.config import Settings
from tongban.identity.actor import SYSTEM_ACTOR, Actor, Scope
from tongban.identity.ids import make_resident_id, make_uscc
from tongban.sharing import grants, importer, registries
from tongban.sharing.catalog_data import build_catalog
from tongban.sharing.fields import Masking

CITY = "510100"
AS_OF = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
# Departments the demo catalog has no template for: (key, name, USCC category).
EXTRA_DEPARTMENTS = (("tax", "国家税务总局成都市税务局", "1"),
                     ("disability", "成都市残疾人联合会", "3"))


def _person_ids() -> dict[str, str]:
    from tongban.demo import PEOPLE

    return {p.name: make_resident_id(p.region, p.born, p.sequence) for p in PEOPLE}


def _enterprise_codes() -> dict[str, str]:
    from tongban.demo import ENTERPRISES

    return {name: make_uscc("9", "1", region, body + "0") for name, region, body in ENTERPRISES}


def owner_departments(db_session: Session) -> dict[str, str]:
    """Owner key -> credit code of the 成都 department that owns the registry; any the
    node lacks (the tax bureau and the disabled persons' federation, which the demo
    catalog has no template for) are registered."""
    wanted = {key: (dept["name"], dept["credit_code"], dept["kind"])
              for (region, key), dept in build_departments().items() if region == CITY}
    for key, name, category in EXTRA_DEPARTMENTS:
        wanted[key] = (name, make_uscc("1", category, CITY, org_body(CITY, key)), name[-4:])
    for name, code, kind in wanted.values():
        if db_session.scalar(select(Department.id).where(Department.credit_code == code)):
            continue
        catalog.create_department(db_session=db_session, actor=SYSTEM_ACTOR, data=DepartmentIn(
            name=name, region_code=CITY, credit_code=code, kind=kind, level=3))
    return {key: code for key, (_, code, _) in wanted.items()}


def _rows() -> dict[str, list[dict[str, Any]]]:
    """The demo records of every dataset, by dataset code."""
    ids, ents = _person_ids(), _enterprise_codes()
    zw, ln, wf, ly, cj, yf = (ids[n] for n in ("张伟", "李娜", "王芳", "刘洋", "陈静", "杨帆"))
    shujin, pujiang = ents["成都蜀锦数字科技有限公司"], ents["上海浦江智能制造有限公司"]
    zhou_min = make_resident_id("320102", date(1981, 3, 3), 402)
    liu_father = make_resident_id("320102", date(1950, 1, 1), 15)
    flat = "成都市锦江区红星路三段1号2栋1单元1201号"
    home = "四川省成都市锦江区春熙路街道红星路三段1号"

    def person(number: str, name: str, **more: Any) -> dict[str, Any]:
        return {"id_number": number, "name": name, **more}

    return {
        "population.household": [
            person(zw, "张伟", gender="男", birth_date="1988-05-12", ethnicity="汉",
                   household_region="510104", household_address=home, household_head="是",
                   relation_to_head="户主", household_size=3),
            person(cj, "陈静", gender="女", birth_date="1995-07-21", ethnicity="汉",
                   household_region="510104", household_address=home, household_head="否",
                   relation_to_head="配偶", household_size=3),
            person(ln, "李娜", gender="女", birth_date="1992-11-03", ethnicity="汉",
                   household_region="310115", household_address="上海市浦东新区世纪大道100号",
                   household_head="是", relation_to_head="户主", household_size=1),
            person(wf, "王芳", gender="女", birth_date="1985-02-28", ethnicity="土家",
                   household_region="500103", household_address="重庆市渝中区民族路88号",
                   household_head="是", relation_to_head="户主", household_size=2),
            person(ly, "刘洋", gender="男", birth_date="1979-09-09", ethnicity="汉",
                   household_region="320102", household_address="江苏省南京市玄武区北京东路12号",
                   household_head="是", relation_to_head="户主", household_size=3),
            person(yf, "杨帆", gender="男", birth_date="2000-01-15", ethnicity="汉",
                   household_region="340104", household_address="安徽省合肥市蜀山区长江西路66号",
                   household_head="是", relation_to_head="户主", household_size=2),
        ],
        "population.marriage": [
            person(zw, "张伟", marital_status="已婚", spouse_name="陈静", spouse_id_number=cj,
                   registered_on="2021-10-01", registry_office="成都市锦江区民政局婚姻登记处"),
            person(cj, "陈静", marital_status="已婚", spouse_name="张伟", spouse_id_number=zw,
                   registered_on="2021-10-01", registry_office="成都市锦江区民政局婚姻登记处"),
            person(ln, "李娜", marital_status="未婚"),
            person(wf, "王芳", marital_status="离婚", registered_on="2019-03-15",
                   registry_office="重庆市渝中区民政局婚姻登记处"),
            person(ly, "刘洋", marital_status="已婚", spouse_name="周敏",
                   spouse_id_number=zhou_min, registered_on="2006-05-01",
                   registry_office="南京市玄武区民政局婚姻登记处"),
            person(yf, "杨帆", marital_status="未婚"),
        ],
        "population.birth": [
            {"id_number": parent, "certificate_number": "R510123456", "child_name": "张小雨",
             "child_gender": "女", "birth_date": "2023-04-02", "birth_place": "四川省成都市锦江区",
             "institution": "四川省妇幼保健院"} for parent in (cj, zw)],
        "population.death": [
            person(liu_father, "刘建国", died_on="2026-06-18", place="南京市鼓楼医院",
                   certificate_number="D320100260618"),
        ],
        "population.residence": [
            person(ln, "李娜", residence_region="510104",
                   residence_address="四川省成都市锦江区东大街100号", registered_on="2024-03-01"),
            person(ly, "刘洋", residence_region="510104",
                   residence_address="四川省成都市锦江区书院街8号", registered_on="2025-05-01"),
        ],
        "legal_entity.registration": [
            {"credit_code": shujin, "name": "成都蜀锦数字科技有限公司",
             "entity_type": "有限责任公司", "legal_representative": "张伟",
             "legal_representative_id": zw, "status": "存续", "industry": "I6513",
             "registered_capital": "500", "established_on": "2019-06-18", "employees": 28,
             "address": "四川省成都市锦江区东大街芷泉段6号"},
            {"credit_code": pujiang, "name": "上海浦江智能制造有限公司",
             "entity_type": "有限责任公司", "legal_representative": "张伟",
             "legal_representative_id": zw, "status": "存续", "industry": "C3484",
             "registered_capital": "1200", "established_on": "2016-09-01", "employees": 86,
             "address": "上海市浦东新区张江路500号"},
        ],
        "social_insurance.pension": [
            person(zw, "张伟", status="正常参保", employer_credit_code=shujin,
                   employer_name="成都蜀锦数字科技有限公司", start_month="2012-07",
                   months_contributed=172, monthly_base="12000", last_paid_month="2026-10"),
            person(ln, "李娜", status="正常参保", employer_credit_code=shujin,
                   employer_name="成都蜀锦数字科技有限公司", start_month="2015-08",
                   months_contributed=135, monthly_base="9000", last_paid_month="2026-10"),
            person(wf, "王芳", status="正常参保", employer_name="灵活就业人员",
                   start_month="2008-01", months_contributed=214, monthly_base="4200",
                   last_paid_month="2026-10"),
            person(ly, "刘洋", status="暂停缴费", start_month="2001-03", months_contributed=210,
                   monthly_base="4071", last_paid_month="2026-03"),
            person(cj, "陈静", status="正常参保", employer_name="成都市第二人民医院",
                   start_month="2018-07", months_contributed=100, monthly_base="8000",
                   last_paid_month="2026-10"),
        ],
        "social_insurance.medical": [
            person(n, nm, scheme=s, status="正常", start_month=m, insured_region="510100")
            for n, nm, s, m in ((zw, "张伟", "职工基本医疗保险", "2012-07"),
                                (ln, "李娜", "职工基本医疗保险", "2015-08"),
                                (wf, "王芳", "城乡居民基本医疗保险", "2008-01"),
                                (ly, "刘洋", "城乡居民基本医疗保险", "2026-04"),
                                (cj, "陈静", "职工基本医疗保险", "2018-07"),
                                (yf, "杨帆", "城乡居民基本医疗保险", "2019-01"))],
        "housing_fund.deposit": [
            person(zw, "张伟", account_number="510100123456789", status="正常",
                   employer_name="成都蜀锦数字科技有限公司", monthly_deposit="2880",
                   balance="86400", opened_on="2012-08-01", last_paid_month="2026-10",
                   has_loan="是"),
            person(ln, "李娜", account_number="510100223456789", status="正常",
                   employer_name="成都蜀锦数字科技有限公司", monthly_deposit="2160",
                   balance="32400", opened_on="2015-09-01", last_paid_month="2026-10",
                   has_loan="否"),
            person(ly, "刘洋", account_number="510100323456789", status="封存",
                   balance="15600", opened_on="2010-05-01", last_paid_month="2026-03",
                   has_loan="否"),
            person(cj, "陈静", account_number="510100423456789", status="正常",
                   employer_name="成都市第二人民医院", monthly_deposit="1920", balance="28800",
                   opened_on="2018-08-01", last_paid_month="2026-10", has_loan="否"),
        ],
        "credit.enterprise": [
            {"credit_code": shujin, "record_number": "HM-2026-0401-0017", "kind": "红名单",
             "title": "纳税信用A级纳税人", "issued_by": "国家税务总局成都市税务局",
             "listed_on": "2026-04-01", "valid_until": "2027-03-31"},
            {"credit_code": shujin, "record_number": "CN-2025-0510-0233", "kind": "信用承诺",
             "title": "告知承诺制办理食品经营许可", "issued_by": "成都市市场监督管理局",
             "listed_on": "2025-05-10", "commitment_state": "已履约"},
            {"credit_code": pujiang, "record_number": "CN-2025-1102-0871", "kind": "信用承诺",
             "title": "告知承诺制办理排污许可", "issued_by": "上海市生态环境局",
             "listed_on": "2025-11-02", "commitment_state": "未履约"},
        ],
        "credit.person": [
            person(ly, "刘洋", record_number="CN-2026-0801-0042", kind="信用承诺",
                   title="承诺如实申报家庭经济状况", issued_by="南京市玄武区民政局",
                   listed_on="2026-08-01", commitment_state="履约中"),
        ],
        "real_estate.property": [
            person(owner, name, certificate_number="川(2021)成都市不动产权第0123456号",
                   location=flat, region="510104", area_m2="98.5", use="住宅",
                   ownership="共同共有", registered_on="2021-11-20", mortgaged="是")
            for owner, name in ((zw, "张伟"), (cj, "陈静"))],
        "vehicle.registration": [
            person(zw, "张伟", plate_number="川A·D12345", vehicle_type="新能源小型汽车",
                   brand="比亚迪 秦PLUS", registered_on="2022-03-15", status="正常"),
            person(wf, "王芳", plate_number="渝A·8K888", vehicle_type="小型汽车",
                   brand="长安 CS75", registered_on="2017-08-09", status="正常"),
        ],
        "vehicle.driver_health": [
            person(zw, "张伟", exam_date="2026-09-10", result="合格",
                   hospital="成都市第三人民医院"),
        ],
        "income_tax.annual": [
            person(n, nm, year=y, annual_income=a, tax_paid=t, withholder=w)
            for n, nm, y, a, t, w in (
                (zw, "张伟", 2024, "198000", "14280", "成都蜀锦数字科技有限公司"),
                (zw, "张伟", 2025, "216000", "17880", "成都蜀锦数字科技有限公司"),
                (ln, "李娜", 2025, "126000", "5880", "成都蜀锦数字科技有限公司"),
                (wf, "王芳", 2025, "54000", "0", ""),
                (ly, "刘洋", 2025, "9600", "0", ""),
                (cj, "陈静", 2025, "98000", "2280", "成都市第二人民医院"))],
        "income_tax.clearance": [
            {"credit_code": shujin, "name": "成都蜀锦数字科技有限公司", "cleared": "否",
             "tax_office": "国家税务总局成都市锦江区税务局"},
            {"credit_code": pujiang, "name": "上海浦江智能制造有限公司", "cleared": "否",
             "tax_office": "国家税务总局上海市浦东新区税务局"},
        ],
        "income_tax.returns": [
            person(zw, "张伟", year=2025,
                   details="工资薪金所得; 专项附加扣除: 子女教育、住房贷款利息"),
        ],
        "disability.certificate": [
            person(yf, "杨帆", certificate_number=f"{yf}42", category="肢体", grade="二级",
                   issued_on="2018-05-10", valid_until="2028-05-09"),
        ],
        "civil_assistance.recipient": [
            person(yf, "杨帆", assistance_type="最低生活保障", status="在保",
                   monthly_amount="1420", household_size=2, since="2019-01-01",
                   region="340104"),
            person(ly, "刘洋", assistance_type="临时救助", status="停保", monthly_amount="800",
                   household_size=3, since="2026-04-01", region="320102"),
        ],
    }


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows as a UTF-8 CSV file with a header of field names (what the importer takes)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def seed_registries(*, db_session: Session, settings: Settings) -> int:
    """The sharing catalog and the demo records; returns how many records it imported."""
    owners = owner_departments(db_session)
    registries.load_catalog(db_session=db_session, actor=SYSTEM_ACTOR,
                            doc=build_catalog(owners))
    total = 0
    for code, rows in _rows().items():
        report = importer.import_records(
            db_session=db_session, settings=settings, actor=SYSTEM_ACTOR, dataset=code,
            data=as_csv(rows), filename=f"{code}.csv", as_of=AS_OF)
        total += report.inserted
    return total




def _no_submit_terms(db_session: Session, region: str) -> list[grants.GrantTerms]:
    """One grant per (handling department, item, dataset) that a published guide of the
    node's region names in a 免提交 material: the handling department may read the
    applicant's record, with the applicant's explicit request or for the case."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for code, guide in catalog.published_guides(db_session=db_session, region_code=region):
        for material in guide.get("materials", []):
            if material.get("source") != "shared_data":
                continue
            dataset = registries.find_dataset(db_session=db_session, name=material["dataset"])
            if dataset is None or dataset.sharing_type == "not_shared":
                continue
            key = (code[:18], code[19:], dataset.code)
            if key in seen:
                continue
            seen.add(key)
            out.append(grants.GrantTerms(
                dataset=dataset.code, consumer_credit_code=code[:18], purpose_code=code[19:],
                purpose_text=f"办理“{guide.get('name') or code[19:]}”所需材料免提交",
                basis="statute", legal_ref=dataset.legal_basis, requires="case_or_consent",
                fields={f: Masking.none for f in registries.field_specs(dataset)},
                valid_days=365, retention_days=90, preview_required=True))
    return out


POLICE_PURPOSE = "GA-XC-001"


def seed_grants(*, db_session: Session, settings: Settings) -> int:
    """The demo grants: 免提交 for every guide that names a dataset, and a 公安 grant
    whose reads the subject sees only after 180 days (delayed disclosure)."""
    terms = _no_submit_terms(db_session, settings.node_region)
    owners = owner_departments(db_session)
    terms.append(grants.GrantTerms(
        dataset="housing_fund.deposit", consumer_credit_code=owners["police"],
        purpose_code=POLICE_PURPOSE, purpose_text="经济犯罪案件侦查协查", basis="statute",
        legal_ref="《中华人民共和国刑事诉讼法》第五十四条", requires="none",
        fields={"id_number": Masking.none, "name": Masking.none, "status": Masking.none,
                "balance": Masking.none, "employer_name": Masking.none},
        valid_days=365, use_limit=500, hidden_days=180,
        hidden_reason="《中华人民共和国刑事诉讼法》第一百五十二条: 侦查期间暂不告知"))
    for term in terms:
        grants.create_grant(db_session=db_session, settings=settings, actor=SYSTEM_ACTOR,
                            terms=term)
    return len(terms)


def seed_requests(db_session: Session) -> None:
    """One open need in the 需求清单: 成都市人社局 asks for 残疾人证信息."""
    hrss = db_session.scalars(select(Department).where(
        Department.credit_code == owner_departments(db_session)["hrss"])).one()
    staff = Actor(account_id=None, name="成都市人社局就业促进处",
                  roles=frozenset({"data_steward"}), scopes=(Scope(CITY, hrss.id),))
    grants.file_request(db_session=db_session, actor=staff, data=grants.RequestIn(
        dataset="disability.certificate", fields=["id_number", "name", "category", "grade"],
        purpose_code="000202001000", purpose_text="就业困难人员认定(残疾人)",
        legal_ref="《就业服务与就业管理规定》第四十二条", wanted_days=365))


def seed_sharing(*, db_session: Session, settings: Settings) -> None:
    """Everything the demo node shares: registries and their records, grants, one open
    request."""
    seed_registries(db_session=db_session, settings=settings)
    seed_grants(db_session=db_session, settings=settings)
    seed_requests(db_session)
