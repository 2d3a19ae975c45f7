"""The scheduled service's logic, free of APScheduler (which `scheduler.py` alone imports).

- `cadence`: cron expressions and intervals as slots (pure)
- `lease`: the leader lease and fencing (PostgreSQL), the single-replica lock (SQLite)
- `runner`: the service core: claim a slot in the run ledger, run its job, record the outcome,
  catch up missed slots once, record overlaps
- `jobs`: the job bodies (`audit`, `accounts`, `reap`, `digest`); `testing`: test-only job kinds
- `digest`: the periodic summary report; `metrics` and `health`: Prometheus metrics, `/healthz`

Everything takes its clock as a parameter, so it is unit-testable without waiting.
"""
