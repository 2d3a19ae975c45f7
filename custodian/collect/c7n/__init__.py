"""The Cloud Custodian adapter: c7n runs in a subprocess (the launcher points c7n-azure at the
configured ARM endpoint), read-only, and only selects; what it selected is typed at this boundary.
Nothing here acts: every change goes through the engine's gate and journal."""
