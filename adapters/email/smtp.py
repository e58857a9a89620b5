"""Email out over SMTP with aiosmtplib: STARTTLS or TLS from the first byte, authentication, bounded waits."""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime

import aiosmtplib

from bot.config import MailServer
from bot.mail.message import build
from bot.mail.port import MailError, OutgoingMail

log = logging.getLogger(__name__)
TIMEOUT = 30.0  # seconds for each step of a conversation with the server (connect, each command, the data)


class SmtpSender:
    """The email port over one SMTP server; a connection per message (chases and updates are few)."""

    def __init__(
        self, server: MailServer, *, tls_context: ssl.SSLContext | None = None, timeout: float = TIMEOUT
    ) -> None:
        self.server = server
        self.name = str(server)  # never with the password
        self.tls_context = tls_context
        self.timeout = timeout

    async def send(self, mail: OutgoingMail) -> None:
        """Hand ``mail`` to the server; MailError (without secrets) when it was not taken."""
        message = build(mail, date=datetime.now(UTC))
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.starttls,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        try:
            async with client:
                refused, _ = await client.send_message(message, recipients=list(mail.recipients))
        except aiosmtplib.SMTPRecipientsRefused as err:
            raise MailError(f"{self.name} refused every recipient ({_codes(err)})") from None
        except aiosmtplib.SMTPResponseException as err:
            # A refusal after the data was sent is still a refusal: the server said so and kept nothing.
            raise MailError(f"{self.name} refused the email: {err.code} {_clip(err.message)}") from None
        except aiosmtplib.SMTPReadTimeoutError:
            raise MailError(f"{self.name} stopped answering", unknown_outcome=True) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as err:
            raise MailError(f"cannot reach {self.name}: {_clip(str(err)) or type(err).__name__}") from None
        except aiosmtplib.SMTPServerDisconnected:
            raise MailError(f"{self.name} closed the connection mid-way", unknown_outcome=True) from None
        except aiosmtplib.SMTPException as err:
            raise MailError(f"{self.name}: {_clip(str(err))}") from None
        if refused:
            log.warning("%s refused some recipients of %s: %s", self.name, mail.message_id, ", ".join(refused))


def _codes(err: aiosmtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{e.recipient}: {e.code}" for e in err.recipients)[:200]


def _clip(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
