"""The reaper: rule L4 (QA/UAT leftovers after production) and orphans O1-O6, reaped in two phases."""
