"""The base every stage shares: errors, config, the dataset format, the `gristmill` command and `run`."""
