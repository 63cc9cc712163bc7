"""The node's channel adapters: e-mail over SMTP (smtplib) and SMS to the log.

E-mail goes to the SMTP server of TONGBAN_SMTP_* (a relay of the region's mail system):
Chinese first and English second in one text/plain UTF-8 part, with the delivery's
stable Message-ID. SMTP replies are classified by their code (RFC 5321: 4xx transient,
5xx permanent); a connection that fails or drops is temporary; bad credentials and a
node without an SMTP server are permanent (an operator has to act, then `tongban notify
retry`).

SMS has no gateway here: `LoggingSms` is the back-end a region replaces with its
operator's API (same interface); it writes one log line per message with the number
masked and the text's length, never the text (a log is a home for personal data too).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from tongban.config import Settings
from tongban.notify.channels import Outgoing, PermanentFailure, TemporaryFailure, mask, scrub

log = logging.getLogger("tongban.notify.sms")


def _text(message: Outgoing) -> str:
    parts = [message.body["zh"]]
    if message.link:
        parts.append(f"查看 / view: {message.link}")
    parts += ["", "—— English ——", message.title["en"], message.body["en"]]
    return "\n".join(parts) + "\n"


def email_message(message: Outgoing, settings: Settings) -> EmailMessage:
    """The e-mail of one delivery (UTF-8, the stable Message-ID, marked auto-generated)."""
    mail = EmailMessage()
    mail["Subject"] = f"{message.title['zh']} / {message.title['en']}"
    mail["From"] = settings.smtp_sender
    mail["To"] = message.address
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message.reference(settings)
    mail["Auto-Submitted"] = "auto-generated"
    mail["Content-Language"] = "zh-CN, en"
    mail.set_content(_text(message), charset="utf-8")
    return mail


def _classify(exc: Exception, address: str) -> TemporaryFailure | PermanentFailure:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        text = "; ".join(f"{c} {m.decode(errors='replace')}" for c, m in
                         exc.recipients.values())
        cls = TemporaryFailure if codes and all(400 <= c < 500 for c in codes) else \
            PermanentFailure
        return cls(scrub(f"recipient refused: {text}", address))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentFailure(f"SMTP authentication failed ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode(errors="replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        cls = TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
        return cls(scrub(f"SMTP {exc.smtp_code} {detail}", address))
    # Connection refused, reset, timed out, dropped mid-session, TLS handshake: transient.
    return TemporaryFailure(scrub(f"{type(exc).__name__}: {exc}", address))


class SmtpEmail:
    """E-mail over real SMTP (smtplib), one connection per batch of the job."""

    channel = "email"
    name = "smtp"

    def send(self, message: Outgoing, settings: Settings) -> str:
        if not settings.smtp_host:
            raise PermanentFailure("e-mail is not configured on this node (TONGBAN_SMTP_HOST)")
        mail = email_message(message, settings)
        try:
            with self._connect(settings) as smtp:
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, settings.smtp_password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, message.address) from exc
        return str(mail["Message-ID"])

    @staticmethod
    def _connect(settings: Settings) -> smtplib.SMTP:
        assert settings.smtp_host
        timeout = settings.smtp_timeout
        if settings.smtp_security == "tls":
            return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp


class LoggingSms:
    """SMS to the log: what a gateway adapter would send, minus the personal data."""

    channel = "sms"
    name = "log"

    def send(self, message: Outgoing, settings: Settings) -> str:
        reference = message.reference(settings)
        text = f"【{settings.node_name}】{message.body['zh']}"
        log.info("sms to %s ref=%s kind=%s chars=%d", mask(message.address), reference,
                 message.kind, len(text))
        return reference
