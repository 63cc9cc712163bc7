"""Write src/tongban/calendar/data/YYYY.json (2004-2026) from the `chinese-calendar` package.

chinese-calendar transcribes each year's 国务院办公厅 notice on public holidays; this script
turns its tables into one reviewable file per year and names, in each file, the notice
that is the legal source. Where the package is known to differ from a notice, the notice
wins and the file says so (CORRECTIONS).

    .venv/bin/python scripts/build_calendar.py            # write the files
    .venv/bin/python scripts/build_calendar.py --check    # fail if a file would change

Rules of the output:
- holidays: every official rest day of a holiday block, including the weekend days inside
  it and the 调休 rest days, grouped by holiday name;
- workdays: the make-up working weekend days (调休上班);
- a date belongs to the file of its calendar year, even when the next year's notice set it
  (late-December days of a 元旦 block); such dates are listed under the source's "also".
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import chinese_calendar

FIRST_YEAR, LAST_YEAR = 2004, 2026
OUT_DIR = Path(__file__).resolve().parent.parent / "src" / "tongban" / "calendar" / "data"

NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

GOV = "https://www.gov.cn"
WIKISOURCE = "https://zh.wikisource.org/wiki/"

# The yearly notice: (文号, 成文日期, URL). None where not verified from a copy of the notice.
# Numbers and dates were read from copies of each notice (gov.cn, wikisource, provincial
# and news reprints); URLs are the gov.cn pages chinese-calendar and python-holidays cite.
NOTICES: dict[int, tuple[str | None, str | None, str]] = {
    2004: (None, None, WIKISOURCE + "国务院办公厅关于2004年部分节假日安排的通知"),
    2005: (None, None, WIKISOURCE + "国务院办公厅关于2005年部分节假日安排的通知"),
    2006: ("国办发明电〔2005〕35号", "2005-12-16", GOV + "/jrzg/2005-12/22/content_133837.htm"),
    2007: ("国办发明电〔2006〕49号", "2006-12-14", GOV + "/fwxx/sh/2006-12/18/content_471877.htm"),
    2008: (None, None, GOV + "/zwgk/2007-12/18/content_837184.htm"),
    2009: ("国办发明电〔2008〕42号", None, GOV + "/zwgk/2008-12/10/content_1174014.htm"),
    2010: ("国办发明电〔2009〕27号", "2009-12-07", GOV + "/zwgk/2009-12/08/content_1482691.htm"),
    2011: ("国办发明电〔2010〕40号", "2010-12-09", GOV + "/zwgk/2010-12/10/content_1762643.htm"),
    2012: ("国办发明电〔2011〕45号", "2011-12-05", GOV + "/zwgk/2011-12/06/content_2012097.htm"),
    2013: ("国办发明电〔2012〕33号", "2012-12-08", GOV + "/zwgk/2012-12/10/content_2286598.htm"),
    2014: ("国办发明电〔2013〕28号", "2013-12-11", GOV + "/zwgk/2013-12/11/content_2546204.htm"),
    2015: ("国办发明电〔2014〕28号", "2014-12-16",
           GOV + "/zhengce/content/2014-12/16/content_9302.htm"),
    2016: ("国办发明电〔2015〕18号", "2015-12-10",
           GOV + "/zhengce/content/2015-12/10/content_10394.htm"),
    2017: ("国办发明电〔2016〕17号", "2016-12-01",
           GOV + "/zhengce/content/2016-12/01/content_5141603.htm"),
    2018: ("国办发明电〔2017〕12号", "2017-11-30",
           GOV + "/zhengce/content/2017-11/30/content_5243579.htm"),
    2019: ("国办发明电〔2018〕15号", "2018-12-04", GOV + "/xinwen/2018-12/06/content_5346287.htm"),
    2020: ("国办发明电〔2019〕16号", "2019-11-21",
           GOV + "/zhengce/content/2019-11/21/content_5454164.htm"),
    2021: ("国办发明电〔2020〕27号", "2020-11-25",
           GOV + "/zhengce/content/2020-11/25/content_5564127.htm"),
    2022: ("国办发明电〔2021〕11号", "2021-10-25",
           GOV + "/zhengce/content/2021-10/25/content_5644835.htm"),
    2023: ("国办发明电〔2022〕16号", "2022-12-08",
           GOV + "/zhengce/content/2022-12/08/content_5730844.htm"),
    2024: ("国办发明电〔2023〕7号", "2023-10-25",
           GOV + "/zhengce/content/202310/content_6911527.htm"),
    2025: ("国办发明电〔2024〕12号", "2024-11-12",
           GOV + "/zhengce/content/202411/content_6986382.htm"),
    2026: ("国办发明电〔2025〕7号", "2025-11-04",
           GOV + "/zhengce/content/202511/content_7047090.htm"),
}

# Notices other than the yearly one that changed a year's days.
EXTRA_NOTICES: dict[int, list[dict[str, Any]]] = {
    2015: [{
        "title": "国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日调休放假的通知",
        "number": None, "date": None,
        "url": GOV + "/zhengce/content/2015-05/13/content_9742.htm",
        "dates": ["2015-09-03", "2015-09-04", "2015-09-06"],
    }],
    2019: [{
        "title": "国务院办公厅关于调整2019年劳动节假期安排的通知",
        "number": None, "date": None,
        "url": GOV + "/zhengce/content/2019-03/22/content_5375877.htm",
        "dates": ["2019-04-28", "2019-05-01", "2019-05-02", "2019-05-03", "2019-05-04",
                  "2019-05-05"],
    }],
    2020: [{
        "title": "国务院办公厅关于延长2020年春节假期的通知",
        "number": "国办发明电〔2020〕1号", "date": None,
        "url": GOV + "/zhengce/content/2020-01/27/content_5472352.htm",
        "dates": ["2020-01-31", "2020-02-01", "2020-02-02"],
    }],
}

# Where chinese-calendar differs from the notice, the notice wins.
CORRECTIONS: dict[date, tuple[str, str]] = {
    date(2005, 12, 31): (
        "workday",
        "国办发明电〔2005〕35号 (the 2006 notice), 元旦: \"12月31日(星期六)上班\". "
        "chinese-calendar 1.11.0 has it as an ordinary Saturday; python-holidays agrees "
        "with the notice.",
    ),
}


def title(year: int) -> str:
    """The yearly notice's title."""
    return f"国务院办公厅关于{year}年部分节假日安排的通知"


def notice(year: int) -> dict[str, Any]:
    """The yearly notice as a source record."""
    number, dated, url = NOTICES[year]
    return {"title": title(year), "number": number, "date": dated, "url": url}


def package_days(year: int) -> tuple[dict[date, str], set[date]]:
    """The package's rest days (with names) and make-up working days in `year`."""
    rest = {d: NAMES[n] for d, n in chinese_calendar.holidays.items() if d.year == year}
    work = {d for d in chinese_calendar.workdays if d.year == year}
    for day, (kind, _why) in CORRECTIONS.items():
        if day.year != year:
            continue
        if kind == "workday":
            rest.pop(day, None)
            work.add(day)
    return rest, work


def fill_weekend_gaps(rest: dict[date, str], work: set[date]) -> dict[date, str]:
    """Add the weekend days inside a holiday block that the package leaves out."""
    by_name: dict[str, list[date]] = defaultdict(list)
    for day, name in rest.items():
        by_name[name].append(day)
    filled = dict(rest)
    for name, days in by_name.items():
        days.sort()
        for left, right in itertools.pairwise(days):
            gap = [left + timedelta(days=i) for i in range(1, (right - left).days)]
            if 0 < len(gap) <= 2 and all(
                d.weekday() >= 5 and d not in work and d not in filled for d in gap
            ):
                filled.update({d: name for d in gap})
    return filled


def also(year: int, rest: dict[date, str], work: set[date]) -> list[dict[str, Any]]:
    """Notices besides the yearly one that set days of `year`."""
    extra = [dict(e) for e in EXTRA_NOTICES.get(year, [])]
    late = sorted(d for d in (set(rest) | work) if d.month == 12 and rest.get(d, "元旦") == "元旦"
                  and d.day >= 25)
    if late and year + 1 in NOTICES:
        extra.append({**notice(year + 1), "dates": [d.isoformat() for d in late]})
    for day, (_kind, why) in CORRECTIONS.items():
        if day.year == year and not any(day.isoformat() in e["dates"] for e in extra):
            extra.append({**notice(year + 1), "dates": [day.isoformat()], "note": why})
    return extra


def document(year: int) -> dict[str, Any]:
    """The data file of one year."""
    rest, work = package_days(year)
    rest = fill_weekend_gaps(rest, work)
    groups: dict[str, list[str]] = {}
    for day in sorted(rest):
        groups.setdefault(rest[day], []).append(day.isoformat())
    source: dict[str, Any] = {
        **notice(year),
        "transcribed_from": f"chinese-calendar {version('chinese-calendar')}",
    }
    extra = also(year, rest, work)
    if extra:
        source["also"] = extra
    notes = [why for day, (_k, why) in CORRECTIONS.items() if day.year == year]
    if notes:
        source["corrections"] = [
            {"date": day.isoformat(), "is": kind, "why": why}
            for day, (kind, why) in CORRECTIONS.items() if day.year == year
        ]
    return {
        "year": year,
        "source": source,
        "holidays": [{"name": name, "dates": dates} for name, dates in groups.items()],
        "workdays": sorted(d.isoformat() for d in work),
    }


def render(doc: dict[str, Any]) -> str:
    """Stable, reviewable JSON text."""
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file would change")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stale = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        path = OUT_DIR / f"{year}.json"
        text = render(document(year))
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
            continue
        path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {LAST_YEAR - FIRST_YEAR + 1} files in {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
