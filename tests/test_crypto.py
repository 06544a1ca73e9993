"""Key ring, associated data, rotation readiness, blind index."""

from __future__ import annotations

import pytest

from store.crypto import BlindIndex, CryptoError, KeyRing, aad, generate_key


def ring(*ids: str) -> tuple[KeyRing, list[str]]:
    keys = [generate_key() for _ in ids]
    return KeyRing.from_setting(",".join(f"{i}:{k}" for i, k in zip(ids, keys, strict=True))), keys


def test_roundtrip_and_binding():
    kr, _ = ring("a")
    token = kr.encrypt("Paul Martin", aad("patient", "name", "row1"))
    assert b"Paul" not in token
    assert kr.decrypt_text(token, aad("patient", "name", "row1")) == "Paul Martin"
    for other in (
        aad("patient", "name", "row2"),
        aad("patient", "address", "row1"),
        aad("appointment", "name", "row1"),
    ):
        with pytest.raises(CryptoError):
            kr.decrypt(token, other)


def test_tampered_ciphertext_is_refused_without_data():
    kr, _ = ring("a")
    token = bytearray(kr.encrypt("secret", b"ctx"))
    token[-1] ^= 1
    with pytest.raises(CryptoError) as err:
        kr.decrypt(bytes(token), b"ctx")
    assert "secret" not in str(err.value)


def test_first_key_encrypts_all_decrypt():
    new_key, old_key = generate_key(), generate_key()
    old = KeyRing.from_setting(f"old:{old_key}")
    token = old.encrypt("x", b"c")
    both = KeyRing.from_setting(f"new:{new_key},old:{old_key}")
    assert both.decrypt_text(token, b"c") == "x"
    assert not both.is_current(token)
    fresh = both.encrypt("x", b"c")
    assert both.is_current(fresh) and both.key_id(fresh) == "new"
    with pytest.raises(CryptoError, match="unknown key id"):
        KeyRing.from_setting(f"new:{new_key}").decrypt(token, b"c")


@pytest.mark.parametrize("setting", ["", "nokey", "a:notbase64!", "a:" + "QUJD", "a b:" + "x"])
def test_bad_key_settings(setting):
    with pytest.raises(CryptoError):
        KeyRing.from_setting(setting)


def test_duplicate_key_ids_refused():
    k = generate_key()
    with pytest.raises(CryptoError, match="repeats"):
        KeyRing.from_setting(f"a:{k},a:{k}")


def test_blind_index_is_keyed_and_scoped():
    k1, k2 = BlindIndex.from_setting(generate_key()), BlindIndex.from_setting(generate_key())
    assert k1("p", "sms:+33612345678") == k1("p", "sms:+33612345678")
    assert k1("p", "sms:+33612345678") != k2("p", "sms:+33612345678")
    assert k1("p", "sms:+33612345678") != k1("q", "sms:+33612345678")
    assert "33612345678" not in k1("p", "sms:+33612345678")
