"""Tokens are stored encrypted, the key file is private, and errors never reveal key or token."""

import stat

import pytest

from qb_pipeline.db.token_cipher import TokenCipher, TokenKeyError, create_key_file, load_key, new_key


def test_round_trip_and_ciphertext_hides_token():
    cipher = TokenCipher(new_key())
    secret = "AB11-refresh-token-value"
    stored = cipher.encrypt(secret)
    assert secret not in stored
    assert cipher.decrypt(stored) == secret


def test_wrong_key_is_a_clear_error_without_secrets():
    key = new_key()
    stored = TokenCipher(key).encrypt("refresh-token-value")
    with pytest.raises(TokenKeyError, match="cannot be decrypted") as caught:
        TokenCipher(new_key()).decrypt(stored)
    assert "refresh-token-value" not in str(caught.value) and stored not in str(caught.value)


def test_malformed_key_is_refused_without_echoing_it():
    with pytest.raises(TokenKeyError) as caught:
        TokenCipher("not-a-real-key-but-secret-ish")
    assert "secret-ish" not in str(caught.value)
    assert "secret-ish" not in repr(TokenCipher(new_key()))


def test_key_file_is_created_once_with_private_mode_and_never_on_first_use(tmp_path):
    with pytest.raises(TokenKeyError, match="no token key at .*: make it with `qb-pipeline db upgrade`"):
        load_key(None, tmp_path)
    assert not (tmp_path / "token.key").exists()
    create_key_file(tmp_path)
    first = load_key(None, tmp_path)
    create_key_file(tmp_path)
    assert load_key(None, tmp_path) == first
    assert stat.S_IMODE((tmp_path / "token.key").stat().st_mode) == 0o600
    assert load_key("explicit", tmp_path) == "explicit"
