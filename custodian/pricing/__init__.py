"""Price tables and monthly cost estimates for reaper findings (finance's view of waste)."""
