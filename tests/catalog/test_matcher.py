"""The matcher of local item lines (catalog/matcher.py): blocking, batch scoring, review."""

from __future__ import annotations

import pytest

from tongban.catalog import matcher as m
from tongban.catalog.matcher import Example, Line, Matcher, Standard, learn, match_all

OBJECTS = ("建筑工程", "供热经营", "物业服务", "酒类批发", "化妆品生产", "眼镜验配", "电梯维保",
           "汽车租赁", "港口经营", "药师执业", "养老机构", "殡葬服务", "林木采伐", "农药经营")
ACTS = ("许可", "许可变更", "许可延续", "许可注销", "备案", "变更备案", "登记", "审批", "核准")
DEPARTMENTS = ("住房和城乡建设局", "市场监督管理局", "交通运输局", "卫生健康委员会", "民政局")


def catalog() -> list[Standard]:
    """Every object × act, in one department each, with materials and limits."""
    return [Standard(key=f"S{i:04d}", name=f"{obj}{act}", item_type="行政许可",
                     departments=(DEPARTMENTS[i % len(DEPARTMENTS)],),
                     materials=("营业执照", f"{obj}申请书"), legal_days=20,
                     promised_days=(5, 10)[i % 2])
            for i, (obj, act) in enumerate((o, a) for o in OBJECTS for a in ACTS)]


@pytest.mark.parametrize("spelling", [
    "{}", "成都市{}", "市{}", "四川省成都市{}",
])
def test_the_department_block_keeps_every_item_of_a_matching_department(spelling: str) -> None:
    items = catalog()
    matcher = Matcher(items, region_names=["四川省", "成都市"])
    short = {"住房和城乡建设局": "住建局", "市场监督管理局": "市场监管局"}
    for dept in DEPARTMENTS:
        for written in {dept, short.get(dept, dept)}:
            block = matcher.block(spelling.format(written))
            ids, _ = matcher._block_matrix(block)
            mine = {i for i, s in enumerate(items) if dept in s.departments}
            assert mine <= set(ids.tolist()), (written, block)


def test_a_line_finds_its_item_in_its_block_past_closer_names_elsewhere() -> None:
    # 300 items of another department with names as close as the right one's, and the
    # right one among many of its own department: the block keeps it, the score picks it.
    items = catalog() + [Standard(key=f"X{i:04d}", name=f"电梯维保许可{i}",
                                  departments=("交通运输局",)) for i in range(300)]
    right = next(s for s in items if s.name == "电梯维保许可" and s.key.startswith("S"))
    elevator = Standard(key="E0001", name="电梯维保许可", departments=("市场监督管理局",))
    items = [s for s in items if s is not right] + [elevator]
    matcher = Matcher(items, region_names=["成都市"])
    found = matcher.match(Line(name="成都市电梯维保许可办理", department="成都市市场监管局"))
    assert found.best is not None and found.best.key == "E0001"


def test_a_name_of_only_common_characters_still_finds_candidates() -> None:
    # In a large catalog every gram of 登记证明 is common (it selects no candidates by
    # itself); the line is then probed with every gram, not dropped.
    chars = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
    items = [Standard(key=f"K{i:04d}", name=f"{chars[i % 22]}{chars[i // 22 % 22]}登记证明")
             for i in range(max(m.COMMON_MIN * 2, 500))]
    items.append(Standard(key="T0001", name="登记证明"))
    found = Matcher(items).match(Line(name="登记证明"))
    assert found.best is not None and found.best.key == "T0001"


def test_a_low_margin_pair_goes_to_a_person() -> None:
    items = [Standard("A", "公司设立登记", departments=("市场监督管理局",)),
             Standard("B", "公司注销登记", departments=("市场监督管理局",)),
             Standard("C", "社会保障卡申领", departments=("人力资源和社会保障局",))]
    matcher = Matcher(items)
    unsure, sure = matcher.match_many([Line("公司登记", department="市场监管局"),
                                       Line("社保卡申领", department="人社局")])
    assert unsure.margin < matcher.review_margin and unsure.needs_review
    assert unsure.best is not None and unsure.runners_up
    assert {unsure.best.key, unsure.runners_up[0].key} == {"A", "B"}
    assert sure.best is not None and sure.best.key == "C" and not sure.needs_review


def test_a_batch_scores_every_line_as_it_would_be_scored_alone() -> None:
    items = catalog()
    matcher = Matcher(items, region_names=["成都市"])
    lines = [Line(name=f"{s.name}办理", department=f"成都市{s.departments[0]}",
                  item_type=s.item_type if i % 3 else "", materials=s.materials[: i % 3],
                  legal_days=s.legal_days if i % 2 else None, promised_days=10)
             for i, s in enumerate(items[::5])]
    lines += [Line(name="电梯"), Line(name="完全无关的名字"), Line(name="")]
    together = matcher.match_many(lines)
    alone = [matcher.match(line) for line in lines]
    assert together == alone
    forked = match_all(matcher, lines, workers=2, chunk=7)
    assert forked == together
    assert all(t.best is not None and t.best.key == s.key
               for t, s in zip(together, items[::5], strict=False))


def test_learning_ignores_moved_words_and_substitutions_that_merge_items() -> None:
    items = {s.key: s for s in (Standard("A", "殡葬服务审批(个人)"),
                                Standard("B", "殡葬服务审批(企业)"),
                                Standard("C", "养老机构审批(个人)"),
                                Standard("D", "养老机构许可"), Standard("E", "养老机构审批"))}
    normaliser = Matcher([]).normaliser
    taught = learn([Example("个人殡葬服务审批", "A"), Example("个人养老机构审批", "C"),
                    Example("养老机构许可证", "D"), Example("殡葬服务许可(企业)", "B"),
                    Example("养老机构许可(个人)", "C")], normaliser, items)
    # 个人 only moved: deleting it would make A and B, or C and E, one item
    assert all(old != "个人" for old, _ in taught.rules)
    # 许可 → 审批 would make 养老机构许可 and 养老机构审批 the same name
    assert ("许可", "审批") not in taught.rules
