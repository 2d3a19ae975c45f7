"""The `notifications` section: owners hear before anything of theirs is deleted.

When the section is present, an applied run tells each owner what was marked for deletion (or is
due for deletion), why, when, what it costs, and how to keep it; and a deletion happens only once
its owner was notified at least `notify_before` earlier. Absent: no notices, deletions as before.

- `notify_before`: the least time between a notice and the deletion it announces (default 24h);
- `owner_tag_keys`: resource and blob tags that name an owner (first present wins; case-insensitive);
- `fallback`: who hears about what has no owner tag: per subscription, org or repository, else
  `default` (required: an unresolved owner goes to the fallback, never nowhere);
- `channels`: at least one of `email` (SMTP with STARTTLS), `slack` and `teams` (incoming
  webhooks), `github_issue` (an issue on a release repository) and `mailbox` (an mbox file: the
  demo's, or a dry run you read yourself);
- `templates_dir`: Jinja2 templates overriding the shipped ones (`notice.txt.j2`, `notice.md.j2`);
- `digests`: who gets the scheduler's `digest` job's finance and security digests on these channels.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from custodian.config.values import Duration, ExistingDirectory, ExistingFile, SecretRef, Strict, WritableFile


class EmailChannel(Strict):
    host: str = Field(min_length=1, description="SMTP server")
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="upgrade with STARTTLS before authenticating (default true)")
    username: str | None = None
    password: SecretRef | None = Field(default=None, description="where the SMTP password lives")
    sender: str = Field(min_length=3, description="the From address")
    ca_bundle: ExistingFile | None = Field(
        default=None, description="CA bundle for the server's certificate (default: system); the file must exist"
    )
    timeout: Duration = Field(default=timedelta(seconds=20), description="per SMTP connection")

    @model_validator(mode="after")
    def _credentials_together(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password', or neither")
        return self


class WebhookChannel(Strict):
    url: SecretRef = Field(description="where the incoming webhook's URL lives (it is a credential)")
    timeout: Duration = Field(default=timedelta(seconds=10))


class GithubIssueChannel(Strict):
    repository: str | None = Field(
        default=None, pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name; default: the first release repository"
    )
    labels: list[str] = Field(default_factory=lambda: ["release-custodian"])


class MailboxChannel(Strict):
    path: WritableFile = Field(
        description="an mbox file the notices are appended to (relative to the config file; it can be created)"
    )


class Channels(Strict):
    email: EmailChannel | None = None
    slack: WebhookChannel | None = None
    teams: WebhookChannel | None = None
    github_issue: GithubIssueChannel | None = None
    mailbox: MailboxChannel | None = None
    max_messages_per_run: int = Field(
        default=50,
        ge=1,
        le=10000,
        description="per channel; the rest wait for the next run (and so do their deletions)",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Channels:
        if not self.names():
            raise ValueError("configure at least one channel: email, slack, teams, github_issue or mailbox")
        return self

    def names(self) -> list[str]:
        return [name for name in ("email", "slack", "teams", "github_issue", "mailbox") if getattr(self, name)]


class Fallback(Strict):
    default: str = Field(min_length=1, description="who hears when nothing else names an owner")
    subscriptions: dict[str, str] = Field(default_factory=dict, description="subscription id -> owner")
    orgs: dict[str, str] = Field(default_factory=dict, description="GitHub org -> owner")
    repositories: dict[str, str] = Field(default_factory=dict, description="owner/name -> owner")


class Digests(Strict):
    finance: list[str] = Field(default_factory=list, description="who gets the finance digest (found, reclaimed, ...)")
    security: list[str] = Field(default_factory=list, description="who gets the security digest (revocations, holds)")


class NotificationsConfig(Strict):
    notify_before: Duration = Field(default=timedelta(hours=24), description="least time from notice to deletion")
    owner_tag_keys: list[str] = Field(default_factory=lambda: ["owner", "created-by"], min_length=1)
    fallback: Fallback
    channels: Channels
    templates_dir: ExistingDirectory | None = Field(
        default=None, description="templates overriding the shipped ones; the directory must exist"
    )
    digests: Digests = Field(default_factory=Digests, description="recipients of the `digest` job's digests")

    @model_validator(mode="after")
    def _positive(self) -> NotificationsConfig:
        if self.notify_before <= timedelta(0):
            raise ValueError("notify_before must be more than zero: a notice must come before the deletion")
        return self
