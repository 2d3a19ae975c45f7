"""Owners hear before anything is deleted: mark (or find due), notify, then delete.

- `notices`: what an applied run has to announce (what was marked this run, what is due but not
  yet announced), as `Notice`s batched per owner;
- `owners`: who owns a target: its owner tags, else the configured fallback per subscription,
  org or repository, else the default fallback (never nobody);
- `render`: the messages, from Jinja2 templates shipped with the package (overridable);
- `channels`: email (SMTP, STARTTLS), Slack and Teams incoming webhooks, a GitHub issue, an mbox file;
- `send`: one message per owner per channel per run, never the same notice twice, the journal in
  the ledger, a failing channel a WARN finding (its deletions wait), never a crash.

The gate's notice check (`engine.gate`, `Refusal.NOT_NOTIFIED`) is what makes a deletion wait.
"""
