"""证照标识 (GB/T 36904): `1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`.

- root `1.2.156.3005.2`: the OID root of Chinese e-licences;
- type (证照类型代码, 21 characters): the defining body's credit code + 3 digits;
- issuer (证照颁发机构代码): the issuing department's 统一社会信用代码 (18 characters);
- serial (流水号): the issuer's own serial, characters 0-9A-Z;
- version (版本号): 3 digits, 001 for a first issue;
- check: ISO/IEC 7064 MOD 37,36 (hybrid system, alphabet 0-9A-Z) over type + issuer +
  serial + version concatenated without dots. Checked against real identifiers from
  public code (tests/licences/test_licences_identifiers.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MODULUS = 36  # M: the alphabet size; the hybrid system works modulo M and M + 1
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_ALNUM = re.compile(r"^[0-9A-Z]+$")
_TYPE = re.compile(r"^[0-9A-Z]{21}$")
_ISSUER = re.compile(r"^[0-9A-Z]{18}$")
_VERSION = re.compile(r"^[0-9]{3}$")
MAX_SERIAL = 40


class IdentifierFormatError(ValueError):
    """A 证照标识 broke GB/T 36904; `part` names the segment, the message says how."""

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


def _value(ch: str) -> int:
    index = _VALUES.get(ch)
    if index is None:
        raise IdentifierFormatError(
            f"字符 {ch!r} 不在 0-9A-Z 中 / character {ch!r} is not in 0-9A-Z", part="body"
        )
    return index


def _run(text: str) -> int:
    """The hybrid system's running product after `text` (ISO/IEC 7064 §7, M = 36)."""
    product, values = MODULUS, _VALUES
    for ch in text:
        value = values.get(ch)
        if value is None:
            _value(ch)  # raises, naming the character
        total = (product + value) % MODULUS or MODULUS  # type: ignore[operator]
        product = (total * 2) % (MODULUS + 1)
    return product


def mod37_36_check_char(body: str) -> str:
    """The MOD 37,36 check character that makes `body + check` valid."""
    return ALPHABET[(1 - _run(body)) % MODULUS]


def mod37_36_is_valid(text: str) -> bool:
    """True if `text` (body followed by its check character) passes MOD 37,36."""
    if not text or not _ALNUM.match(text):
        return False
    product = _run(text[:-1])
    return (product + _value(text[-1])) % MODULUS == 1


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: str
    version: str
    check: str

    @property
    def body(self) -> str:
        """What the check character covers: the four parts without dots."""
        return f"{self.type_code}{self.issuer_code}{self.serial}{self.version}"

    def __str__(self) -> str:
        return ".".join(
            (ROOT, self.type_code, self.issuer_code, self.serial, self.version, self.check)
        )


def make_identifier(*, type_code: str, issuer_code: str, serial: str, version: int = 1
                    ) -> LicenceIdentifier:
    """Build a valid identifier from its parts (each checked) with its check character."""
    ident = LicenceIdentifier(type_code, issuer_code, serial, f"{version:03d}", "0")
    _check_parts(ident)
    return LicenceIdentifier(
        type_code, issuer_code, serial, ident.version, mod37_36_check_char(ident.body)
    )


def _check_parts(ident: LicenceIdentifier) -> None:
    checks = (
        ("type_code", _TYPE.match(ident.type_code),
         "证照类型代码应为21位数字或大写字母 / type code must be 21 characters 0-9A-Z"),
        ("issuer_code", _ISSUER.match(ident.issuer_code),
         "颁发机构代码应为18位统一社会信用代码 / issuer code must be an 18-character credit code"),
        ("serial", _ALNUM.match(ident.serial) and len(ident.serial) <= MAX_SERIAL,
         f"流水号应为1-{MAX_SERIAL}位数字或大写字母 / serial must be 1-{MAX_SERIAL} "
         "characters 0-9A-Z"),
        ("version", _VERSION.match(ident.version),
         "版本号应为3位数字 / version must be 3 digits"),
    )
    for part, ok, message in checks:
        if not ok:
            raise IdentifierFormatError(message, part=part)


def parse_identifier(value: str) -> LicenceIdentifier:
    """Parse and validate a 证照标识; raises IdentifierFormatError naming the bad part."""
    text = value.strip()
    if not text.startswith(ROOT + "."):
        raise IdentifierFormatError(
            f"证照标识应以 {ROOT} 开头 / identifier must start with {ROOT}", part="root"
        )
    parts = text[len(ROOT) + 1:].split(".")
    if len(parts) != 5:
        raise IdentifierFormatError(
            "证照标识应在根代码后有5段(类型.颁发机构.流水号.版本号.校验位) / "
            "identifier must have 5 parts after the root (type.issuer.serial.version.check), "
            f"got {len(parts)}",
            part="structure",
        )
    ident = LicenceIdentifier(*parts)
    _check_parts(ident)
    if len(ident.check) != 1 or ident.check not in ALPHABET:
        raise IdentifierFormatError(
            "校验位应为1位数字或大写字母 / check must be one character 0-9A-Z", part="check"
        )
    expected = mod37_36_check_char(ident.body)
    if ident.check != expected:
        raise IdentifierFormatError(
            f"证照标识校验位错误(应为 {expected}) / identifier check character is wrong "
            f"(expected {expected})",
            part="check",
        )
    return ident
