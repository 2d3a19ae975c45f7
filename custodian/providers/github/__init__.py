"""GitHub adapters (PyGithub, plus raw requester calls where PyGithub has no method)."""
