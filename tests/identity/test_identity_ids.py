"""Our GB 11643 / GB 32100 checks agree with python-stdnum where both should, and are
stricter where the standards say so (embedded organisation code, letter-first codes)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidComponent, ValidationError

from tongban.identity.ids import (
    ORG_ALPHABET,
    USCC_ALPHABET,
    IdentifierError,
    is_resident_id,
    is_uscc,
    make_resident_id,
    make_uscc,
    mask_id_number,
    org_code_check_char,
    parse_resident_id,
    resident_check_char,
    today_in_china,
    uscc_check_char,
    validate_uscc,
)

digits = st.text(alphabet="0123456789", min_size=17, max_size=17)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date.today())
# Regions stdnum's table knows for every birth year we generate.
known_regions = st.sampled_from(["110101", "510104", "310104", "440305", "510107"])
sequences = st.integers(min_value=0, max_value=999)
org_body_chars = "".join(c for c in USCC_ALPHABET if c in ORG_ALPHABET)
org_bodies = st.text(alphabet=org_body_chars, min_size=8, max_size=8)
uscc_regions = st.text(alphabet="0123456789", min_size=6, max_size=6)


# --- 公民身份号码 -------------------------------------------------------------------


@given(digits)
def test_resident_check_char_matches_stdnum(first17: str) -> None:
    assert resident_check_char(first17) == ric.calc_check_digit(first17 + "0")


@settings(deadline=None)  # the first example imports stdnum's tables
@given(known_regions, birth_dates, sequences)
def test_well_formed_numbers_are_valid_for_both(region: str, born: date, seq: int) -> None:
    number = make_resident_id(region, born, seq)
    parsed = parse_resident_id(number)
    assert parsed.birth_date == born and parsed.region_code == region
    assert parsed.gender == ("M" if seq % 2 else "F")
    # stdnum also checks the birth place against its own table; we use the node's regions.
    with contextlib.suppress(InvalidComponent):
        ric.validate(number)


@given(st.text(alphabet="0123456789X", min_size=18, max_size=18))
def test_whatever_we_accept_stdnum_accepts_but_for_birth_place(number: str) -> None:
    ours = is_resident_id(number)
    try:
        ric.validate(number)
        theirs = True
    except InvalidComponent:
        theirs = ours  # stdnum's birth-place table is a check we deliberately leave out
    except ValidationError:
        theirs = False
    if ours:
        assert theirs


@given(known_regions, birth_dates, sequences, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_one_changed_character_is_rejected_by_both(
    region: str, born: date, seq: int, pos: int, char: str
) -> None:
    number = make_resident_id(region, born, seq)
    assume(number[pos] != char and (pos == 17 or char != "X"))
    changed = number[:pos] + char + number[pos + 1:]
    assert not is_resident_id(changed)
    assert not ric.is_valid(changed)


@given(known_regions, birth_dates)
def test_x_check_character_in_either_case(region: str, born: date) -> None:
    seq = next(s for s in range(1000)
               if resident_check_char(f"{region}{born:%Y%m%d}{s:03d}") == "X")
    number = make_resident_id(region, born, seq)
    assert number.endswith("X")
    assert parse_resident_id(number.lower()).number == number
    assert ric.calc_check_digit(number) == "X"
    assert not is_resident_id(number[:17] + "0")


@pytest.mark.parametrize(("born", "valid"), [
    ("19900229", False),  # 1990 is not a leap year
    ("20000229", True),   # 2000 is
    ("19001301", False),  # month 13
    ("19900431", False),  # April has 30 days
    ("19900000", False),
    ("18491231", False),  # before any plausible birth
])
def test_birth_date_must_be_a_real_date(born: str, valid: bool) -> None:
    first17 = f"510104{born}123"
    number = first17 + resident_check_char(first17)
    assert is_resident_id(number) is valid
    if not valid and born[:4] != "1849":
        assert not ric.is_valid(number)


def test_birth_date_in_the_future_is_rejected() -> None:
    future = date(date.today().year + 1, 1, 1)
    with pytest.raises(IdentifierError, match="出生日期"):
        parse_resident_id(make_resident_id("510104", future, 1))


@pytest.mark.parametrize("bad", ["", "51010419900517123", "5101041990051712345",
                                 "51010419900517123A", "5101041990O517123X"])
def test_malformed_numbers_are_rejected(bad: str) -> None:
    with pytest.raises(IdentifierError):
        parse_resident_id(bad)


@given(known_regions, birth_dates, sequences)
def test_masking_keeps_first_three_and_last_four(region: str, born: date, seq: int) -> None:
    number = make_resident_id(region, born, seq)
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked[:3] == number[:3] and masked[-4:] == number[-4:]
    assert set(masked[3:-4]) == {"*"}
    assert f"{born:%Y%m%d}" not in masked


def test_short_values_mask_completely() -> None:
    assert mask_id_number("1234567") == "*******"


# --- 统一社会信用代码 ---------------------------------------------------------------


@given(st.sampled_from("123456789"), st.sampled_from("123459"), uscc_regions, org_bodies)
def test_digit_first_codes_are_valid_for_both(
    dept: str, category: str, region: str, body: str
) -> None:
    code = make_uscc(dept, category, region, body)
    assert validate_uscc(code) == code
    assert uscc.validate(code) == code


@given(st.text(alphabet="0123456789", min_size=8, max_size=8),
       st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9))
def test_check_character_matches_stdnum(first8: str, rest: str) -> None:
    first17 = first8 + rest
    assert uscc_check_char(first17) == uscc.calc_check_digit(first17)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8),
       st.text(alphabet=USCC_ALPHABET, min_size=10, max_size=10))
def test_whatever_we_accept_stdnum_accepts(first8: str, rest: str) -> None:
    code = first8 + rest
    if is_uscc(code):
        assert uscc.is_valid(code)
    if not uscc.is_valid(code):
        assert not is_uscc(code)


@given(st.sampled_from("ANY"), st.sampled_from("129"), uscc_regions, org_bodies)
def test_letter_first_codes_are_ours_to_accept(
    dept: str, category: str, region: str, body: str
) -> None:
    code = make_uscc(dept, category, region, body)
    assert is_uscc(code)
    assert not uscc.is_valid(code)  # stdnum wants 8 leading digits


@given(st.sampled_from("19"), uscc_regions, org_bodies, st.sampled_from("0123456789X"))
def test_wrong_embedded_org_check_is_rejected_by_us_only(
    dept: str, region: str, body: str, wrong: str
) -> None:
    assume(wrong != org_code_check_char(body))
    first17 = f"{dept}1{region}{body}{wrong}"
    code = first17 + uscc_check_char(first17)
    assert uscc.is_valid(code)  # stdnum skips the embedded GB 11714 check
    with pytest.raises(IdentifierError, match="组织机构代码"):
        validate_uscc(code)


@pytest.mark.parametrize("bad", ["", "91510104MA6CXXXX", "91510104MA6C12345I",
                                 "9151010OMA6C12345X", "915101-4MA6C12345X"])
def test_malformed_credit_codes_are_rejected(bad: str) -> None:
    with pytest.raises(IdentifierError):
        validate_uscc(bad)


def test_a_real_published_code() -> None:
    # stdnum's own doctest example, a real code.
    assert validate_uscc("91110000600037341L") == "91110000600037341L"


@given(st.sampled_from("0BCDEFGHJKLMPQRTUWX"), st.sampled_from("129"), uscc_regions,
       org_bodies)
def test_a_first_character_gb_32100_never_assigns_is_refused(
        authority: str, category: str, region: str, body: str) -> None:
    code = make_uscc(authority, category, region, body)  # every other check passes
    with pytest.raises(IdentifierError, match="登记管理部门"):
        validate_uscc(code)


def test_full_width_credit_codes_normalise_and_foreign_digits_do_not() -> None:
    code = make_uscc("9", "1", "510104", "MA6CXK1P")
    wide = code.translate(str.maketrans("0123456789ACKMX", "０１２３４５６７８９ＡＣＫＭＸ"))
    assert validate_uscc(wide) == code
    with pytest.raises(IdentifierError):
        validate_uscc(code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))


def test_a_birth_date_of_today_in_beijing_is_valid_at_every_hour() -> None:
    for hour in range(24):  # 00:00-08:00 Beijing time is still yesterday in UTC
        moment = datetime(2026, 3, 1, hour, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
        born_today = make_resident_id("510104", moment.date(), 123)
        assert parse_resident_id(born_today, today=moment.date()).birth_date == moment.date()
        tomorrow = make_resident_id("510104", moment.date() + timedelta(days=1), 123)
        with pytest.raises(IdentifierError):
            parse_resident_id(tomorrow, today=moment.date())


def test_the_default_today_is_the_beijing_date() -> None:
    beijing = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert today_in_china() == beijing
    parse_resident_id(make_resident_id("510104", beijing, 123))  # valid, whatever UTC says
