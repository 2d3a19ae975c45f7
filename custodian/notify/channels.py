"""Where notices go: email over SMTP (STARTTLS), Slack and Teams incoming webhooks, a GitHub issue
on a release repository, an mbox file.

Every channel raises `ChannelError` with a message that names the channel and the cause and never
carries a secret: no webhook URL (it is the credential), no SMTP password, no response body.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

import requests
from github import Github, GithubException

from custodian.config.notifications import EmailChannel, GithubIssueChannel, WebhookChannel
from custodian.notify.notices import Batch
from custodian.notify.render import Message, slack_payload, teams_payload
from custodian.private_files import create_private_file


class ChannelError(RuntimeError):
    """A notice could not be delivered; the message is safe to journal and report."""


class Channel(Protocol):
    name: str

    def send(self, batch: Batch, message: Message) -> str:
        """Deliver one owner's message; returns a short receipt (e.g. an issue URL), raises ChannelError."""
        ...


def _transfer_encoding(text: str) -> str:
    """7bit when the text allows it (readable as sent, no soft line breaks), else quoted-printable."""
    plain = text.isascii() and all(len(line) <= 900 for line in text.splitlines())
    return "7bit" if plain else "quoted-printable"


def _looks_like_email(owner: str) -> bool:
    local, _, domain = owner.partition("@")
    return bool(local) and "." in domain and " " not in owner


class EmailSender:
    name = "email"

    def __init__(self, settings: EmailChannel, fallback: str, password: str | None) -> None:
        self.settings, self.fallback, self._password = settings, fallback, password

    def recipient(self, owner: str) -> str:
        """The owner when it is an address, else the default fallback (which must be one)."""
        if _looks_like_email(owner):
            return owner
        if _looks_like_email(self.fallback):
            return self.fallback
        raise ChannelError(f"email: neither the owner {owner!r} nor the fallback is an email address")

    def send(self, batch: Batch, message: Message) -> str:
        s = self.settings
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = s.sender, self.recipient(batch.owner), message.subject
        mail["Date"], mail["Message-ID"] = formatdate(localtime=False), make_msgid(domain="release-custodian")
        mail.set_content(message.text, cte=_transfer_encoding(message.text))
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout.total_seconds()) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=str(s.ca_bundle) if s.ca_bundle else None))
                    smtp.ehlo()
                if s.username is not None and self._password is not None:
                    smtp.login(s.username, self._password)
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(f"email: {s.host}:{s.port} refused the login ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError:
            raise ChannelError(
                f"email: {s.host}:{s.port} does not offer STARTTLS (set starttls: false only on a trusted network)"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"email: {s.host}:{s.port} answered {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"email: {s.host}:{s.port}: {type(exc).__name__}") from None
        if refused:
            raise ChannelError(f"email: {len(refused)} recipient(s) refused")
        return f"mail to {mail['To']}"


class WebhookSender:
    """Slack or Teams: one POST of the channel's JSON payload to the incoming-webhook URL."""

    def __init__(self, name: str, settings: WebhookChannel, url: str, session: requests.Session | None = None) -> None:
        self.name, self.settings, self._url = name, settings, url
        self._session = session or requests.Session()
        self._payload: Callable[[Message, Batch], dict[str, Any]] = slack_payload if name == "slack" else teams_payload

    def send(self, batch: Batch, message: Message) -> str:
        try:
            response = self._session.post(
                self._url, json=self._payload(message, batch), timeout=self.settings.timeout.total_seconds()
            )
        except requests.RequestException as exc:
            raise ChannelError(f"{self.name}: the webhook could not be reached ({type(exc).__name__})") from None
        if response.status_code == 429:
            raise ChannelError(
                f"{self.name}: rate-limited (429, retry after {response.headers.get('Retry-After', '?')} s)"
            )
        if not 200 <= response.status_code < 300:
            raise ChannelError(f"{self.name}: the webhook answered HTTP {response.status_code}")
        return f"{self.name} HTTP {response.status_code}"


class GithubIssueSender:
    name = "github_issue"

    def __init__(self, settings: GithubIssueChannel, github: Github, repository: str) -> None:
        self.settings, self._github, self.repository = settings, github, repository

    def send(self, batch: Batch, message: Message) -> str:
        mention = f"@{batch.owner}" if batch.owner.replace("-", "").isalnum() else batch.owner
        body = f"{mention}\n\n{message.markdown}"
        try:
            issue = self._github.get_repo(self.repository, lazy=True).create_issue(
                title=message.subject, body=body, labels=list(self.settings.labels)
            )
        except GithubException as exc:
            raise ChannelError(f"github_issue: {self.repository} answered HTTP {exc.status}") from None
        return str(issue.html_url)


class MailboxSender:
    """Appends each message to an mbox file (owner-only); what the demo shows between mark and delete."""

    name = "mailbox"

    def __init__(self, path: Path, sender: str = "release-custodian@localhost") -> None:
        self.path, self.sender = path, sender

    def send(self, batch: Batch, message: Message) -> str:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, batch.owner, message.subject
        mail["Date"] = formatdate(localtime=False)
        mail.set_content(message.text, cte=_transfer_encoding(message.text))
        try:
            if not self.path.exists():
                create_private_file(self.path)
            box = mailbox.mbox(str(self.path), create=True)
            try:
                box.lock()
                box.add(mail)
                box.flush()
            finally:
                box.unlock()
                box.close()
        except OSError as exc:
            raise ChannelError(f"mailbox: {self.path}: {exc.strerror or type(exc).__name__}") from None
        return f"mbox {self.path}"
