"""The licence PDF: Chinese text, a QR code, and a PAdES seal a standard validator accepts.

Making one costs about three seconds (CJK font subsetting, then signing), so this module
makes one PDF and checks it many ways.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

from tongban.catalog.models import Department
from tongban.licences import keys, pdf

DOCUMENT = {
    "identifier": "1.2.156.3005.2.11100000000000027A001.11510100MB654321XX.20260000001.001.7",
    "type": {"code": "11100000000000027A001", "name": "居住证"},
    "holder": {"kind": "person", "name": "李春熙", "id_masked": "500***********2823",
               "id_ref": "ab" * 32},
    "fields": {"name": "李春熙", "gender": "女", "ethnicity": "汉", "birth_date": "1990-05-17",
               "residence_address": "成都市锦江区春熙路88号", "household_address": "重庆市渝中区"},
    "validity": {"from": "2026-11-22", "until": "2027-11-21"},
    "issuer": {"name": "成都市公安局", "credit_code": "11510100MB654321XX",
               "region_code": "510100"},
    "issued_at": "2026-11-22T02:00:00Z",
    "signed_at": "2026-11-22T02:00:00Z",
    "status": {"status_list": {"idx": 4242, "uri": "http://127.0.0.1:8000/x"}},
}
SCHEMA = {"properties": {"name": {"title": "姓名"}, "gender": {"title": "性别"},
                         "ethnicity": {"title": "民族"}, "birth_date": {"title": "出生日期"},
                         "residence_address": {"title": "居住地址"},
                         "household_address": {"title": "户籍地址"}}}
URL = "http://127.0.0.1:8000/licences/verify?identifier=" + DOCUMENT["identifier"]  # type: ignore[operator]


@pytest.fixture(scope="module")
def sealed() -> tuple[bytes, bytes]:
    """One sealed PDF and the PEM of its seal certificate."""
    department = Department(name="成都市公安局", credit_code="11510100MB654321XX",
                            region_code="510100", kind="公安", level=3)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = keys._self_signed(department, key, datetime.now(UTC))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    layout = pdf.render_layout(document=DOCUMENT, field_schema=SCHEMA, verify_url=URL,
                               seal_name=department.name)
    content = pdf.seal(layout, key_pem=key_pem, cert_pem=cert_pem, signer_name=department.name)
    assert content.startswith(layout)  # an incremental update: the layout is kept as is
    return content, cert_pem


def _validate(content: bytes, cert_pem: bytes) -> Any:
    reader = PdfFileReader(io.BytesIO(content))
    assert len(reader.embedded_signatures) == 1
    cert = next(iter(load_certs_from_pemder_data(cert_pem)))
    return pdf.run_sync(lambda: async_validate_pdf_signature(
        reader.embedded_signatures[0], ValidationContext(trust_roots=[cert])))


def test_the_pades_seal_is_intact_valid_trusted_and_covers_the_whole_file(
        sealed: tuple[bytes, bytes]) -> None:
    content, cert_pem = sealed
    status = _validate(content, cert_pem)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.coverage.name == "ENTIRE_FILE"
    assert status.md_algorithm == "sha256"
    assert "成都市公安局" in status.signing_cert.subject.human_friendly


def test_changing_one_byte_breaks_the_seal(sealed: tuple[bytes, bytes]) -> None:
    content, cert_pem = sealed
    at = content.index(b"/MediaBox [0 0 595.28") + len(b"/MediaBox [0 0 595.2")
    tampered = content[:at] + b"9" + content[at + 1:]  # the page is 0.01 pt wider
    status = _validate(tampered, cert_pem)
    assert not status.intact  # the document digest no longer matches
    assert not status.bottom_line


def test_a_seal_from_another_certificate_is_not_trusted(sealed: tuple[bytes, bytes]) -> None:
    content, _ = sealed
    other = Department(name="别的部门", credit_code="11510100MB654321XX", region_code="510100",
                       kind="x", level=3)
    other_cert = keys._self_signed(other, ec.generate_private_key(ec.SECP256R1()),
                                   datetime.now(UTC))
    status = _validate(content, other_cert.public_bytes(serialization.Encoding.PEM))
    assert status.intact and not status.trusted


def test_the_chinese_text_is_extractable(sealed: tuple[bytes, bytes]) -> None:
    pages = PdfReader(io.BytesIO(sealed[0])).pages
    # fpdf2 writes 2-byte codes and maps code 0 to U+0000 in its ToUnicode CMap; pypdf 7
    # then also reads a NUL before each character: drop those, the rest is the text.
    text = "".join(page.extract_text() for page in pages).replace("\x00", "")
    for expected in ("居住证", "李春熙", "成都市锦江区春熙路88号", "有效期限", "2027-11-21",
                     "成都市公安局", "扫描二维码核验"):
        assert expected in text, expected


def test_sealing_works_inside_a_running_event_loop(sealed: tuple[bytes, bytes]) -> None:
    """pyHanko's sync API calls asyncio.run; an async caller must still be able to seal."""
    content, _ = sealed
    key = ec.generate_private_key(ec.SECP256R1())
    other = Department(name="复核部门", credit_code="11510100MB654321XX", region_code="510100",
                       kind="x", level=3)
    cert_pem = keys._self_signed(other, key, datetime.now(UTC)).public_bytes(
        serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())

    async def caller() -> bytes:
        return pdf.seal(content, key_pem=key_pem, cert_pem=cert_pem, signer_name="复核部门",
                        field_name="ReviewSeal")

    # A thread of its own: a browser test in this worker may have left a loop running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        twice = pool.submit(asyncio.run, caller()).result()
    reader = PdfFileReader(io.BytesIO(twice))
    assert len(reader.embedded_signatures) == 2
    cert = next(iter(load_certs_from_pemder_data(cert_pem)))
    status = pdf.run_sync(lambda: async_validate_pdf_signature(
        reader.embedded_signatures[1], ValidationContext(trust_roots=[cert])))
    assert status.bottom_line
