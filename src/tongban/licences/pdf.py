"""The printable licence: an A4 PDF in Chinese with a drawn seal and a QR code, sealed
with a PAdES signature of the issuing department.

fpdf2 embeds a subset of Noto Sans CJK SC (Debian's fonts-noto-cjk; face 2 of the TTC
is Simplified Chinese), so the text stays extractable. The red seal is drawn; the legal
seal is the PAdES signature (pyHanko, ETSI.CAdES.detached, ECDSA P-256 / SHA-256) with
the department's seal certificate, added as an incremental update. Subsetting the CJK
font takes about 2.5 s and signing 0.5 s, so a licence's PDF is made once and kept.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import segno
from fpdf import FPDF
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tongban.calendar.service import local_date
from tongban.errors import DomainError

FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
)
FONT_ENV = "TONGBAN_CJK_FONT"  # another copy of NotoSansCJK-Regular.ttc
FONT_FACE_SC = 2  # Simplified Chinese in the Noto Sans CJK collection
RED = (200, 16, 46)
FIELD_NAME = "LicenceSeal"
T = TypeVar("T")
FONT_HELP = ("licence PDFs need Noto Sans CJK: install Debian's fonts-noto-cjk "
             "(sudo apt-get install fonts-noto-cjk) or set TONGBAN_CJK_FONT to a "
             "NotoSansCJK-Regular.ttc")


class FontMissing(DomainError):
    """Noto Sans CJK is not installed: the node cannot make licence PDFs (everything else
    works); the operator installs the font."""

    status = 503
    code = "font_missing"


def font_path() -> Path:
    """The Noto Sans CJK collection on this machine."""
    chosen = os.environ.get(FONT_ENV)
    for path in (*([Path(chosen)] if chosen else []), *FONT_PATHS):
        if path.is_file():
            return path
    raise FontMissing("本节点缺少中文字体,暂不能生成电子证照 PDF,请联系运维人员 / this node "
                      f"cannot make licence PDFs: {FONT_HELP}",
                      details={"looked_in": [str(p) for p in FONT_PATHS], "env": FONT_ENV})


def font_problem() -> str | None:
    """What to install for licence PDFs, or None when the font is there."""
    try:
        font_path()
    except FontMissing:
        return FONT_HELP
    return None


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if value is None:
        return "—"
    return str(value)


def _draw_seal(pdf: FPDF, cx: float, cy: float, name: str) -> None:
    """A round red seal: double ring, a star, the department name along the upper arc."""
    radius = 21.0
    pdf.set_draw_color(*RED)
    pdf.set_fill_color(*RED)
    pdf.set_text_color(*RED)
    pdf.set_line_width(1.0)
    pdf.ellipse(cx - radius, cy - radius, 2 * radius, 2 * radius, style="D")
    pdf.set_line_width(0.3)
    inner = radius - 1.6
    pdf.ellipse(cx - inner, cy - inner, 2 * inner, 2 * inner, style="D")
    pdf.star(cx, cy, 2.6, 6.8, corners=5, rotate_degrees=90, style="F")
    text = name[:18]
    pdf.set_font("NotoSC", size=9.5 if len(text) > 12 else 11)
    span = min(240.0, 20.0 * len(text))  # degrees the name covers, centred on the top
    text_radius = radius - 6.2
    for i, ch in enumerate(text):
        angle = -span / 2 + span * (i + 0.5) / len(text)  # 0 = straight up, clockwise
        rad = math.radians(angle)
        x = cx + text_radius * math.sin(rad)
        y = cy - text_radius * math.cos(rad)
        width = pdf.get_string_width(ch)
        with pdf.rotation(-angle, x, y):
            pdf.text(x - width / 2, y + 1.6, ch)
    pdf.set_font("NotoSC", size=7)
    label = "电子证照专用章"
    pdf.text(cx - pdf.get_string_width(label) / 2, cy + 12, label)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)


def _qr_png(payload: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=6, border=2)
    buffer.seek(0)
    return buffer


def _row(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_x(25)
    pdf.set_font("NotoSC", size=10.5)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(42, 8.5, label)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("NotoSC", size=11.5)
    pdf.multi_cell(118, 8.5, value, new_x="LMARGIN", new_y="NEXT")


def render_layout(*, document: Mapping[str, Any], field_schema: Mapping[str, Any],
                  verify_url: str, seal_name: str) -> bytes:
    """The unsigned A4 licence PDF."""
    issued = datetime.fromisoformat(str(document["issued_at"]).replace("Z", "+00:00"))
    pdf = FPDF(format="A4")
    pdf.set_creation_date(issued)
    pdf.set_title(f"{document['type']['name']} {document['identifier']}")
    pdf.set_author(document["issuer"]["name"])
    pdf.set_creator("tongban 通办")
    pdf.add_font("NotoSC", fname=str(font_path()), collection_font_number=FONT_FACE_SC)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_draw_color(*RED)
    pdf.set_line_width(1.2)
    pdf.rect(12, 12, 186, 273)
    pdf.set_line_width(0.3)
    pdf.rect(14.5, 14.5, 181, 268)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_font("NotoSC", size=26)
    pdf.set_y(28)
    pdf.cell(0, 14, document["type"]["name"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("NotoSC", size=9)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 7, f"证照标识 {document['identifier']}", align="C", new_x="LMARGIN",
             new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(6)
    holder = document["holder"]
    _row(pdf, "持证主体", holder["name"])
    _row(pdf, "证件号码" if holder["kind"] == "person" else "统一社会信用代码",
         holder.get("id_masked") or holder.get("credit_code") or "")
    titles = {k: v.get("title", k) for k, v in field_schema.get("properties", {}).items()}
    for key, value in document["fields"].items():
        _row(pdf, titles.get(key, key), _value_text(value))
    validity = document["validity"]
    _row(pdf, "有效期限", f"{validity['from']} 至 {validity['until'] or '长期'}")
    _row(pdf, "颁发机构", document["issuer"]["name"])
    # the legal (Beijing) day: at 07:00 Beijing time the UTC date is the day before
    _row(pdf, "颁发日期", local_date(issued).isoformat())
    pdf.image(_qr_png(verify_url), x=26, y=222, w=38, h=38)
    pdf.set_font("NotoSC", size=8)
    pdf.set_xy(66, 236)
    pdf.multi_cell(70, 4.5, "扫描二维码核验本证照的签名、状态与有效期。\n"
                   "Scan to verify signature, status and validity.")
    _draw_seal(pdf, 160, 238, seal_name)
    return bytes(pdf.output())


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run one of pyHanko's coroutines to completion, also when the calling thread already
    runs an event loop (pyHanko's sync wrappers call asyncio.run, which then fails)."""
    async def wrapped() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapped())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrapped()).result()


def seal(pdf_bytes: bytes, *, key_pem: bytes, cert_pem: bytes, signer_name: str,
         field_name: str = FIELD_NAME) -> bytes:
    """Add a PAdES baseline signature of the department's seal key to the PDF."""
    cert = load_certs_from_pemder_data(cert_pem)
    signing_cert = next(iter(cert))
    signer = signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=load_private_key_from_pemder_data(key_pem, passphrase=None),
        cert_registry=SimpleCertificateStore.from_certs([signing_cert]),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes))
    fields.append_signature_field(writer, fields.SigFieldSpec(field_name, on_page=0))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
        name=signer_name, reason="电子证照签发 / e-licence issued")
    pdf_signer = signers.PdfSigner(meta, signer=signer)
    out = run_sync(lambda: pdf_signer.async_sign_pdf(writer))
    return bytes(out.getvalue())


def render_sealed_pdf(*, document: Mapping[str, Any], field_schema: Mapping[str, Any],
                      verify_url: str, seal_name: str, key_pem: bytes, cert_pem: bytes
                      ) -> bytes:
    """The licence PDF with its drawn seal, QR code and PAdES signature."""
    layout = render_layout(document=document, field_schema=field_schema,
                           verify_url=verify_url, seal_name=seal_name)
    return seal(layout, key_pem=key_pem, cert_pem=cert_pem, signer_name=seal_name)
