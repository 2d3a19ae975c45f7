"""Collecting (read-only): the release timeline, service accounts, Azure resources (through Cloud
Custodian) and blobs, each typed where it enters; a unit that could not be read completely becomes
a `CollectionError`, never a silent gap."""
