"""The reaper: rule L4 (QA/UAT leftovers after production) and orphans O1-O6, reaped in two phases.

- `arm`: VMs, disks, NICs, public IPs and NSGs through Cloud Custodian policies (`policies/`);
- `blobs`: blobs through azure-storage-blob (index tags, ephemeral containers).
A run that includes the reaper is `run_lifecycle(..., RunRequest(parts={"reaper", ...}))`.
"""
