"""Identifier checks by their standards, our own (python-stdnum is stricter or laxer
in the wrong places; tests compare the two where both should agree).

- 公民身份号码, GB 11643-1999: ISO 7064 MOD 11-2 check, valid birth date.
- 统一社会信用代码, GB 32100-2015: ISO 7064 MOD 31-3 over a 31-character alphabet,
  a first character the standard assigns (a registration authority: 1-9, A, N, Y), and
  the embedded GB 11714 organisation code with its own MOD 11 check.

Input is normalised (NFKC, so full-width `１２３` is `123`), then must be ASCII `[0-9]`:
a regex's `\\d` also matches Arabic-Indic and other digits, and three people were created
for one real number. The normalised number is what is stored and hashed: one person per
number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 32100 table 1: the registration authorities (登记管理部门) a code may start with.
USCC_AUTHORITIES = "123456789ANY"
_RESIDENT_RE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_USCC_RE = re.compile(rf"[{USCC_ALPHABET}]{{18}}", re.ASCII)
_REGION_RE = re.compile(r"[0-9]{6}", re.ASCII)
_CHINA = ZoneInfo("Asia/Shanghai")


class IdentifierError(ValueError):
    """An identifier broke its standard; the message says how, in Chinese and English."""


@dataclass(frozen=True)
class ResidentId:
    number: str
    region_code: str
    birth_date: date
    gender: str  # "M" or "F"


def resident_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_WEIGHTS, strict=True))
    return RESIDENT_CHECK[total % 11]


def normalise(value: str) -> str:
    """An identifier as typed, in the one spelling that is stored: NFKC (full-width digits
    and letters become ASCII), no surrounding space, upper case."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def today_in_china() -> date:
    """Today's date in Asia/Shanghai: a person born today is valid at any hour there."""
    return datetime.now(_CHINA).date()


def parse_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Validate a 18-character 公民身份号码 and return its parts (`number` normalised)."""
    number = normalise(value)
    if not _RESIDENT_RE.fullmatch(number):
        raise IdentifierError(
            "公民身份号码应为18位(17位数字+数字或X) / ID number must be 17 digits + digit or X"
        )
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise IdentifierError(
            "公民身份号码中的出生日期无效 / invalid birth date in ID number"
        ) from exc
    if born.year < 1850 or born > (today or today_in_china()):
        raise IdentifierError("公民身份号码中的出生日期无效 / invalid birth date in ID number")
    if resident_check_char(number[:17]) != number[17]:
        raise IdentifierError("公民身份号码校验码错误 / ID number check character is wrong")
    gender = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, region_code=number[:6], birth_date=born, gender=gender)


def is_resident_id(value: str) -> bool:
    """True if `value` is a valid 公民身份号码."""
    try:
        parse_resident_id(value)
    except IdentifierError:
        return False
    return True


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    total = sum(
        USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True)
    )
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Validate a 统一社会信用代码 (incl. the embedded organisation code); return it."""
    code = normalise(value)
    if not _USCC_RE.fullmatch(code):
        raise IdentifierError(
            "统一社会信用代码应为18位,且不含I、O、Z、S、V / credit code must be 18 characters "
            "of 0-9A-Y without I O Z S V"
        )
    if code[0] not in USCC_AUTHORITIES:
        raise IdentifierError(
            "统一社会信用代码首位应为登记管理部门代码(1-9、A、N、Y) / the first character must be "
            "a registration authority GB 32100 assigns (1-9, A, N, Y)"
        )
    if not _REGION_RE.fullmatch(code[2:8]):
        raise IdentifierError(
            "统一社会信用代码第3-8位应为行政区划代码 / positions 3-8 must be a region code"
        )
    org = code[8:17]
    if any(c not in ORG_ALPHABET for c in org[:8]) or org_code_check_char(org[:8]) != org[8]:
        raise IdentifierError(
            "统一社会信用代码中的组织机构代码校验错误 / embedded organisation code check is wrong"
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise IdentifierError("统一社会信用代码校验码错误 / credit code check character is wrong")
    return code


def is_uscc(value: str) -> bool:
    """True if `value` is a valid 统一社会信用代码."""
    try:
        validate_uscc(value)
    except IdentifierError:
        return False
    return True


def make_uscc(department: str, category: str, region_code: str, org_body: str) -> str:
    """Build a valid credit code from its parts (demo data and tests)."""
    org = org_body + org_code_check_char(org_body)
    first17 = f"{department}{category}{region_code}{org}"
    return first17 + uscc_check_char(first17)


def make_resident_id(region_code: str, born: date, sequence: int) -> str:
    """Build a valid 公民身份号码 (demo data and tests)."""
    first17 = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + resident_check_char(first17)


def mask_id_number(number: str) -> str:
    """Show the first 3 and last 4 characters only: 510***********123X."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]
