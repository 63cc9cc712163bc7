"""证照标识 (GB/T 36904) and its ISO/IEC 7064 MOD 37,36 check character."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.licences.identifiers import (
    ALPHABET,
    IdentifierFormatError,
    make_identifier,
    mod37_36_check_char,
    mod37_36_is_valid,
    parse_identifier,
)

# Identifiers found in public code of national and provincial e-licence systems
# (research/cn-standards.md §3.3): their check characters are the standard's.
REAL_IDENTIFIERS = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S",
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3",
]


@pytest.mark.parametrize("identifier", REAL_IDENTIFIERS)
def test_real_identifiers_have_the_check_character_we_compute(identifier: str) -> None:
    parsed = parse_identifier(identifier)
    assert mod37_36_check_char(parsed.body) == identifier[-1]
    assert mod37_36_is_valid(parsed.body + parsed.check)
    assert str(parsed) == identifier


def test_a_hefei_identifier_with_a_short_issuer_code_still_checks() -> None:
    # 1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9: non-standard issuer part,
    # but its check character follows the same MOD 37,36 rule.
    assert mod37_36_check_char("11100000MB03271699022" "340100" "000000016" "001") == "9"


def test_iso_7064_mod_37_36_worked_example() -> None:
    # ISO/IEC 7064 hybrid system, M = 36: "A12425GABC1234002" has check character "M".
    assert mod37_36_check_char("A12425GABC1234002") == "M"
    assert mod37_36_is_valid("A12425GABC1234002M")


def test_make_identifier_builds_a_parsable_identifier() -> None:
    ident = make_identifier(type_code="11100000000000019F001",
                            issuer_code="11430000006122244L", serial="20260000001", version=2)
    assert str(ident).startswith("1.2.156.3005.2.11100000000000019F001.11430000006122244L."
                                 "20260000001.002.")
    assert parse_identifier(str(ident)) == ident


@pytest.mark.parametrize(("text", "part"), [
    ("1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U", "root"),
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001", "structure"),
    ("1.2.156.3005.2.11100000000013338W01.11430000006122244L.20230000403.001.U", "type_code"),
    ("1.2.156.3005.2.11100000000013338W011.1143000000612224.20230000403.001.U", "issuer_code"),
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023-403.001.U", "serial"),
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U", "version"),
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V", "check"),
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.UU", "check"),
])
def test_malformed_identifiers_name_the_bad_part(text: str, part: str) -> None:
    with pytest.raises(IdentifierFormatError) as caught:
        parse_identifier(text)
    assert caught.value.part == part
    assert " / " in str(caught.value)  # Chinese, then English


@given(body=st.text(alphabet=ALPHABET, min_size=1, max_size=60), data=st.data())
def test_any_single_character_change_is_detected(body: str, data: st.DataObject) -> None:
    """The hybrid system detects every single substitution, check character included."""
    full = body + mod37_36_check_char(body)
    position = data.draw(st.integers(0, len(full) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != full[position]))
    changed = full[:position] + replacement + full[position + 1:]
    assert mod37_36_is_valid(full)
    assert not mod37_36_is_valid(changed)


def test_almost_every_adjacent_transposition_is_detected() -> None:
    """A hybrid ISO 7064 system catches every single substitution, but not quite every
    adjacent transposition (e.g. 9BYX4138EFWIJ and 9BXY4138EFWIJ both check): over a
    fixed sample, fewer than 1 in 200 swaps of distinct characters go unnoticed."""
    rng = random.Random(7064)
    undetected = trials = 0
    while trials < 5000:
        body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 40)))
        full = body + mod37_36_check_char(body)
        i = rng.randrange(len(full) - 1)
        if full[i] == full[i + 1]:
            continue
        trials += 1
        undetected += mod37_36_is_valid(full[:i] + full[i + 1] + full[i] + full[i + 2:])
    assert undetected < trials / 200
