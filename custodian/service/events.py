"""The leader runs the webhook events whose time has come: one version-scoped hand-off run each.

`EventRunner.poll()` (every `service.webhooks.poll_every`, from its own thread, or called by tests)
does nothing on a standby: only the leader acts, and any replica may have recorded the event (the
ledger is shared). On the leader, each due `pending` event is claimed under its lease (in the same
transaction), run through `run_lifecycle` (the same rules, plan, gate, executor and journal as a
scheduled run) restricted to the event's version and the accounts part, with the run's `trigger`
`event:<delivery id>` (kept on the run in the ledger), and finished `done` or `failed`. Such a run
collects that version only (`custodian.collect.version_scope`: its tags, deployments and accounts
by name, a handful of calls); its revocation steps count in the metrics under `trigger="event"`.
When an applied run (a scheduled one) holds the apply lock, the event goes back to `pending` and is
retried at the next poll.

When this replica becomes leader (a new lease epoch), events left `running` by a gone leader are
put back to `pending` first: a run is idempotent, and the journal settles what a crashed one began.
The schedule stays the safety net: a lost delivery or a failed event run is found by the next
scheduled `accounts` run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from custodian.config import Config, Mode
from custodian.ledger.events import EventStatus, WebhookEvent
from custodian.ledger.locks import LockHeldError
from custodian.ledger.scheduling import LeaseToken
from custodian.ledger.store import Ledger
from custodian.model import RunMode
from custodian.progress import LogProgress
from custodian.service.jobs import result_of_run
from custodian.service.lease import LeaseKeeper, RunFence
from custodian.service.metrics import ServiceMetrics

_LOG = logging.getLogger("release_custodian.events")


class EventRunner:
    """Runs due webhook events on the leader (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        keeper: LeaseKeeper,
        *,
        clock: Callable[[], datetime],
        stopping: threading.Event,
        poll_every: timedelta = timedelta(seconds=2),
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.events = ledger
        self.keeper = keeper
        self.clock = clock
        self.stopping = stopping
        self.poll_every = poll_every
        self.metrics = metrics
        self._epoch: int | None = None
        self._poll_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the loop ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-events", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.wait(self.poll_every.total_seconds()):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - e.g. the ledger did not answer: the next poll tries again
                _LOG.exception("webhook events: poll failed")

    # -- one poll ------------------------------------------------------------------------------------

    def poll(self) -> list[tuple[str, EventStatus]]:
        """Run every due event if this replica leads; returns (delivery id, status) of each one run."""
        with self._poll_lock:
            token = self.keeper.current()
            if token is None or self.stopping.is_set():
                return []  # standby: the leader runs them
            if token.epoch != self._epoch:
                for delivery in self.events.requeue_webhook_events(except_holder=None):
                    _LOG.warning(f"webhook {delivery}: was running under an earlier leader: queued again")
                self._epoch = token.epoch
            done: list[tuple[str, EventStatus]] = []
            for event in self.events.due_webhook_events(self.clock()):
                if self.stopping.is_set():
                    break
                if not self.events.claim_webhook_event(event.delivery_id, lease=token, at=self.clock()):
                    continue
                done.append((event.delivery_id, self._run(event, token)))
            return done

    def _run(self, event: WebhookEvent, token: LeaseToken) -> EventStatus:
        from custodian.run import ACCOUNTS, RunRequest, run_lifecycle

        applying = self.config.mode is Mode.ENFORCE
        request = RunRequest(
            RunMode.ENFORCE, apply=applying, parts=frozenset({ACCOUNTS}), version=event.version, trigger=event.trigger
        )
        label = f"webhook {event.delivery_id}: {event.version} ({event.event} {event.ref})"
        _LOG.info(f"{label}: hand-off run started" + ("" if applying else " (plans only: mode is audit)"))
        fence = RunFence(self.keeper, token, self.stopping)
        run_id: str | None = None
        try:
            outcome = run_lifecycle(
                self.config,
                request,
                ledger=self.ledger,
                clock=self.clock,
                progress=LogProgress(_LOG),
                fence=fence,
            )
        except LockHeldError as exc:
            status, detail = EventStatus.PENDING, f"not run yet: {exc}; retried at the next poll"
        except Exception as exc:  # noqa: BLE001 - recorded; the schedule is the safety net
            _LOG.exception(f"{label}: failed")
            status, detail = EventStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        else:
            result = result_of_run(outcome)
            status, detail, run_id = EventStatus.DONE, result.detail, result.run_id
            if self.metrics is not None:
                self.metrics.revoked(event.trigger, int(result.extra.get("revocations", 0)))
            if fence.refused is not None:  # stopped acting part-way: the next leader runs it again
                status, detail = EventStatus.PENDING, f"{fence.reason}; {detail}"
        self.events.finish_webhook_event(
            event.delivery_id, status=status, at=self.clock(), detail=detail, run_id=run_id
        )
        _LOG.log(logging.INFO if status is EventStatus.DONE else logging.WARNING, f"{label}: {status.value}: {detail}")
        return status
