"""Créneau dialog engine: channel-neutral, no I/O beyond reading its own catalogs."""
