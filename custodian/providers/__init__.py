"""Thin adapters over the official SDKs (PyGithub, azure-mgmt-*, azure-storage-blob).

They turn SDK objects into `custodian.model` facts and perform confirmed actions; no SDK object
leaves this package. Providers import `custodian.model` only (import-linter enforces it).
"""
