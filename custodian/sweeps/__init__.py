"""Sweeps orchestrate: collect with the providers, decide with the rules, plan, execute, journal."""
