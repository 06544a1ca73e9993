"""Field encryption (AES-256-GCM under a key ring) and the HMAC blind index.

Each ciphertext names the key that sealed it and is bound, through the GCM associated
data, to its table, column and row: copied to another row it no longer decrypts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = b"\x01"  # version byte of the token layout: FORMAT | len(key id) | key id | nonce | ct
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CryptoError(Exception):
    """A key setting is unusable or a ciphertext does not authenticate (never carries data)."""


def generate_key() -> str:
    """A fresh random 32-byte key, base64-encoded as the settings expect."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError(f"{what} is not valid base64") from exc
    if len(raw) != 32:
        raise CryptoError(f"{what} must decode to 32 bytes, got {len(raw)}")
    return raw


def aad(table: str, column: str, row_id: str) -> bytes:
    """The associated data that binds a ciphertext to one cell."""
    return f"creneau|{table}|{column}|{row_id}".encode()


class KeyRing:
    """AES-256-GCM keys by id: the first encrypts, all decrypt (rotation)."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise CryptoError("CRENEAU_DATA_KEYS holds no key")
        ids = [k for k, _ in keys]
        if len(set(ids)) != len(ids):
            raise CryptoError("CRENEAU_DATA_KEYS repeats a key id")
        self.primary_id = ids[0]
        self._aead = {kid: AESGCM(key) for kid, key in keys}
        self.fingerprints = {kid: hashlib.sha256(key).hexdigest()[:12] for kid, key in keys}

    @classmethod
    def from_setting(cls, value: str) -> KeyRing:
        """Parse `id:base64key,id2:base64key`."""
        keys = []
        for n, item in enumerate(filter(None, (p.strip() for p in value.split(","))), 1):
            kid, sep, b64 = item.partition(":")
            if not sep or not KEY_ID.match(kid):
                raise CryptoError(f"CRENEAU_DATA_KEYS entry {n} must look like id:base64key")
            keys.append((kid, _decode_key(b64, f"CRENEAU_DATA_KEYS key {kid!r}")))
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        return list(self._aead)

    def encrypt(self, plaintext: str | bytes, associated: bytes) -> bytes:
        """Seal plaintext under the primary key."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        kid = self.primary_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.primary_id].encrypt(nonce, data, associated)
        return FORMAT + bytes([len(kid)]) + kid + nonce + sealed

    def key_id(self, token: bytes) -> str:
        """The id of the key that sealed token (CryptoError for anything malformed)."""
        if not isinstance(token, bytes | bytearray | memoryview) or len(token) < 2:
            raise CryptoError("ciphertext too short or not bytes")
        token = bytes(token)
        if token[:1] != FORMAT:
            raise CryptoError("unknown ciphertext format")
        n = token[1]
        if n == 0 or len(token) < 2 + n + NONCE_BYTES + TAG_BYTES:
            raise CryptoError("ciphertext truncated")
        return token[2 : 2 + n].decode("ascii", "replace")

    def decrypt(self, token: bytes, associated: bytes) -> bytes:
        """Open token; raise CryptoError if it was altered, truncated, moved or its key is
        unknown (every decoding failure is a CryptoError, never an IndexError or ValueError)."""
        kid = self.key_id(token)
        aead = self._aead.get(kid)
        if aead is None:
            raise CryptoError(f"ciphertext sealed with unknown key id {kid!r}")
        body = bytes(token)[2 + len(kid.encode()) :]
        nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, sealed, associated)
        except (InvalidTag, ValueError) as exc:
            raise CryptoError("ciphertext failed authentication (tampered or moved)") from exc

    def decrypt_text(self, token: bytes, associated: bytes) -> str:
        try:
            return self.decrypt(token, associated).decode()
        except UnicodeDecodeError as exc:
            raise CryptoError("ciphertext does not hold text") from exc

    def is_current(self, token: bytes) -> bool:
        """Whether token is already sealed under the primary key."""
        return self.key_id(token) == self.primary_id


class BlindIndex:
    """HMAC-SHA256 of a normalised value: look-ups without storing the value in clear."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_setting(cls, value: str) -> BlindIndex:
        return cls(_decode_key(value, "CRENEAU_INDEX_KEY"))

    def __call__(self, practice_id: str, value: str) -> str:
        msg = f"{practice_id}\x1f{value}".encode()
        return hmac.digest(self._key, msg, "sha256").hex()  # one-shot: OpenSSL's own HMAC
