"""release-custodian: a scheduled custodian and compliance auditor for a staged release pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("release-custodian")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
