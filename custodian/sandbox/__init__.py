"""Local, faithful emulators of ARM, GitHub REST and Azure blob storage (Azurite), and the scenario loader.

They power the test-suite and `release-custodian demo`; nothing here is used against real clouds.
"""
