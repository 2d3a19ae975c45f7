"""Pure rules: (inventory, holds, now, settings) -> findings. No I/O, no clock reads, model imports only."""
