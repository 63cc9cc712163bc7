"""The external channels' adapter interface, and how a failed send is classified.

An adapter sends one message on one channel and answers with the provider's reference,
or raises `TemporaryFailure` (worth retrying later: the server is down, busy, says 4xx)
or `PermanentFailure` (retrying cannot help: the address is refused, the channel is not
configured, the credentials are wrong). The node's adapters are registered in its wiring
(`notify_adapters`, by "<channel>.<name>") and chosen by settings
(TONGBAN_NOTIFY_EMAIL_ADAPTER, TONGBAN_NOTIFY_SMS_ADAPTER).

Every message carries a reference made from its delivery's id (the e-mail Message-ID,
the SMS client reference): a send repeated after a crash between sending and recording
it carries the same reference, so the mailbox or the SMS gateway recognises the copy.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Protocol

from tongban.config import Settings


class SendFailure(Exception):
    """A send that did not happen; `temporary` says whether a retry may succeed."""

    temporary = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(SendFailure):
    temporary = True


class PermanentFailure(SendFailure):
    temporary = False


@dataclass(frozen=True)
class Outgoing:
    """One message ready to send: opened from its sealed rows just before sending."""

    delivery_id: uuid.UUID
    channel: str
    address: str
    kind: str
    title: dict[str, str]
    body: dict[str, str]
    link: str | None  # absolute (the node's public URL), or None

    def reference(self, settings: Settings) -> str:
        """The stable reference of this delivery (the same on every attempt)."""
        host = re.sub(r"^[a-z]+://", "", settings.public_url).split("/")[0].split(":")[0]
        return f"<{self.delivery_id}@{host or 'tongban'}>"


class ChannelAdapter(Protocol):
    """Sends messages on one channel (`channel`: "email" or "sms")."""

    channel: str
    name: str

    def send(self, message: Outgoing, settings: Settings) -> str:
        """Send `message`; the provider's reference. Raises a SendFailure."""
        ...


def mask(address: str) -> str:
    """An address as operators and logs see it: zh***@example.cn, 139****5678."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:2]}***@{domain}"
    return f"{address[:3]}****{address[-4:]}" if len(address) >= 8 else "****"


def scrub(text: str, address: str) -> str:
    """An error text with the address (and any other e-mail address or phone) masked."""
    text = text.replace(address, mask(address))
    text = re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+",
                  lambda m: m.group(0) if "***@" in m.group(0) else mask(m.group(0)), text)
    return re.sub(r"(?<!\d)1[3-9]\d{9}(?!\d)", lambda m: mask(m.group(0)), text)[:2000]
