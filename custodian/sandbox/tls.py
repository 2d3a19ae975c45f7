"""A throw-away certificate authority (trustme) for the HTTPS emulators, with its bundle on disk.

Clients are pointed at `ca_bundle_path` (exported as `REQUESTS_CA_BUNDLE` by the sandbox).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class SandboxTLS:
    """One CA and one server certificate for 127.0.0.1 / localhost, written under `directory`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="release-custodian sandbox")
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self.ca_bundle_path = directory / "sandbox-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_bundle_path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._cert.configure_cert(context)
        return context
