"""Sealing and opening personal values cell by cell, and the blind index."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from store.address import index_value
from store.crypto import BlindIndex, CryptoError, KeyRing, aad


@dataclass(frozen=True)
class Vault:
    """The key ring and index key of one deployment."""

    ring: KeyRing
    index: BlindIndex

    def seal(self, table: str, column: str, row_id: str, value: str) -> bytes:
        return self.ring.encrypt(value, aad(table, column, row_id))

    def open(self, table: str, column: str, row_id: str, token: bytes) -> str:
        return self.ring.decrypt_text(token, aad(table, column, row_id))

    def seal_json(self, table: str, column: str, row_id: str, value: Any) -> bytes:
        return self.seal(table, column, row_id, json.dumps(value, separators=(",", ":")))

    def open_json(self, table: str, column: str, row_id: str, token: bytes) -> Any:
        try:
            return json.loads(self.open(table, column, row_id, token))
        except ValueError as exc:  # authenticated but not JSON: treat as unreadable too
            raise CryptoError("ciphertext does not hold JSON") from exc

    def address_index(self, practice_id: str, channel: str, normalised: str) -> str:
        return self.index(practice_id, index_value(channel, normalised))

    def message_index(self, practice_id: str, channel: str, external_id: str) -> str:
        """A provider message id (MessageSid, update_id) as kept: a keyed hash in its own
        domain, so a replay is recognised without keeping the id."""
        return self.index(practice_id, f"message:{channel}:{external_id}")
