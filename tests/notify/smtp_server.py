"""A real SMTP server for the tests (aiosmtpd on a free local port), with a mailbox.

The handler can refuse recipients (a 5xx or 4xx reply) or the whole message, to test how
failures are classified. `mailbox` keeps one message per Message-ID, as a real mail
store does; `transactions` counts every accepted SMTP transaction.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Handler:
    rcpt_reply: str | None = None  # e.g. "550 5.1.1 <x@y>: no such user"
    data_reply: str | None = None
    transactions: list[EmailMessage] = field(default_factory=list)
    mailbox: dict[str, EmailMessage] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.transactions.append(message)
            self.mailbox.setdefault(str(message["Message-ID"]), message)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: Handler


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server on 127.0.0.1 for one test."""
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()
