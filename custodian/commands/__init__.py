"""CLI sub-commands, one module per command group; `custodian.cli` wires them into argparse."""
