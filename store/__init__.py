"""Créneau persistence: tables, field encryption, blind index, repositories."""
