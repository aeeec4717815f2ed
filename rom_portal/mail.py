"""Sending e-mail: a small SMTP client on the standard library (smtplib, email, ssl).

Only reminders use it. TLS is verified against the system's certificate store (``SSL_CERT_FILE`` points
elsewhere); STARTTLS is required when asked for, never silently skipped; plain SMTP is only allowed to a relay on
localhost (checked in settings). Errors are one line and never carry an e-mail address.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from types import TracebackType
from typing import TYPE_CHECKING

from rom_portal.models.base import utcnow

if TYPE_CHECKING:
    from rom_portal.settings import Settings

MAX_ADDRESS_LENGTH = 254  # RFC 5321's path limit less the angle brackets
_LOCAL_PART = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"({_LOCAL_PART})@({_DOMAIN})")
# Anything that looks like an address, to scrub it from a server's error text.
_ANY_ADDRESS = re.compile(r"<?[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+>?")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def plausible_address(value: str) -> bool:
    """One address as a person types it: local@domain.tld, ASCII, no spaces, no line breaks, at most 254 characters.

    Deliberately strict: whatever passes goes into a mail header as it is. No RFC 2047 encoded-word
    (``=?utf-8?q?...?=``): the email package would decode it into a different address than the one checked.
    """
    if not value or len(value) > MAX_ADDRESS_LENGTH or value.count("@") != 1:
        return False
    if "=?" in value or "?=" in value:
        return False
    match = _ADDRESS.fullmatch(value)
    return match is not None and len(match.group(1)) <= 64


def mask_address(value: str) -> str:
    """``c•••@example.org``: enough for its owner to recognise, little for someone looking over a shoulder."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}•••@{domain}"


def scrub(text: str) -> str:
    """A server's reply on one line, without any e-mail address in it."""
    one_line = " ".join(text.split())
    return _ANY_ADDRESS.sub("<address>", one_line)[:200]


class MailError(Exception):
    """Sending failed. The message is one line without addresses."""


class MailServerError(MailError):
    """The mail server cannot be used at all (unreachable, TLS, login, sender refused): stop sending."""


class MessageRefused(MailError):
    """The server refused this one message (e.g. an unknown recipient); others may still go."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # starttls | tls | none
    username: str
    password: str
    sender: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        if not settings.mail_configured:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port or DEFAULT_PORTS[settings.smtp_security],
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            timeout=settings.smtp_timeout,
        )

    def describe(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def build_message(sender: str, recipient: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message. Addresses must already be plausible; the header policy refuses line breaks too."""
    if not (plausible_address(sender) and plausible_address(recipient)):
        raise MessageRefused("not a plausible e-mail address")
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    # The sender's domain, not this machine's name: the message must not tell where the portal runs.
    message["Message-ID"] = make_msgid(domain=sender.partition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    message.set_content(body, subtype="plain", charset="utf-8")
    return message


class Mailer:
    """One connection to the mail server for a run: ``with Mailer(config) as mailer: mailer.send(message, to)``."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        self.connect()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _fail(self, what: str, exc: BaseException) -> MailServerError:
        self.close()
        reason = _reason(exc)
        return MailServerError(f"{what} {self.config.describe()}: {reason}")

    def connect(self) -> None:
        config = self.config
        context = ssl.create_default_context()
        try:
            if config.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            self._smtp = smtp
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=context)  # raises when the server does not offer it: never fall back
                smtp.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            raise self._fail("cannot connect to", exc) from None
        if config.username:
            try:
                smtp.login(config.username, config.password)
            except (OSError, smtplib.SMTPException) as exc:
                raise self._fail("cannot log in at", exc) from None

    def ensure_connected(self) -> None:
        """Connect again when the server hung up (idle timeout, 421); MailServerError when it cannot be reached."""
        if self._smtp is None or self._smtp.sock is None:
            self.close()
            self.connect()

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Send ``message`` to ``recipient`` (the address that was checked), whatever its headers say.

        The envelope is given explicitly, never parsed back out of the To and From headers.
        """
        if self._smtp is None:
            raise MailServerError(f"not connected to {self.config.describe()}")
        if not plausible_address(recipient):
            raise MessageRefused("not a plausible e-mail address")
        try:
            refused = self._smtp.send_message(message, from_addr=self.config.sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            raise MessageRefused(f"recipient refused: {_reason(exc)}") from None
        except smtplib.SMTPSenderRefused as exc:
            raise self._fail("sender refused by", exc) from None
        except (smtplib.SMTPDataError, smtplib.SMTPNotSupportedError) as exc:
            raise MessageRefused(f"message refused: {_reason(exc)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._fail("lost the connection to", exc) from None
        if refused:  # only possible with several recipients; we send to one
            raise MessageRefused("recipient refused")

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _reason(exc: BaseException) -> str:
    """The server's code and text (or the system's error), without addresses."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = list(exc.recipients.values())
        if codes:
            code, text = codes[0]
            return scrub(f"{code} {_text(text)}")
        return "refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return scrub(f"{exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return scrub(f"TLS certificate not trusted ({exc.verify_message})")
    if isinstance(exc, OSError) and exc.strerror:
        return scrub(exc.strerror)
    return scrub(str(exc) or type(exc).__name__)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
