"""The one safety engine every part goes through: plan, gate, execute, journal.

- `gate`: the checks every action passes, in one order (allowlist, complete inventory, release
  timeline, holds, the rule's scope, due time), on the inventory at planning time and again on a
  fresh re-read right before acting;
- `dependencies`: what a deletion needs gone first, and what it would take with it;
- `plan`: every part's proposed actions become one plan; run-wide caps; findings settled;
- `execute`: intent with snapshot -> act -> poll the operation -> confirm by re-read -> outcome,
  for every kind of action, with one crash resume for every kind.
"""
