"""Encryption at rest for OAuth tokens (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from QB_TOKEN_KEY. The embedded default, which has no secret store, has one generated
into `<QB_DATA_DIR>/token.key` (mode 0600) with its database, by `qb-pipeline db upgrade`; production should set QB_TOKEN_KEY from its secret store so
that the key never sits beside the database it protects.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from qb_pipeline.core import defaults

KEY_FILE_NAME = "token.key"


class TokenKeyError(Exception):
    """The token key is missing, malformed, or not the one the stored tokens were encrypted with."""


class TokenCipher:
    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError):
            # Never echo the key itself.
            raise TokenKeyError(
                "QB_TOKEN_KEY is not a valid key: it must be 32 url-safe base64-encoded bytes "
                "(make one with `qb-pipeline auth new-key`)"
            ) from None

    def __repr__(self) -> str:  # keep the key out of reprs, logs and tracebacks
        return "TokenCipher(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken:
            raise TokenKeyError(
                "stored QuickBooks tokens cannot be decrypted with this QB_TOKEN_KEY: restore the key "
                "they were saved with, or reconnect with `qb-pipeline auth connect`"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def require_token_key(explicit_key: str | None, environment: str) -> None:
    if not explicit_key and environment != "sandbox-local":
        raise TokenKeyError(
            f"QB_TOKEN_KEY is not set: with QB_ENVIRONMENT={environment} every machine must use "
            "the same key from your secret store (create one with `qb-pipeline auth new-key`)"
        )


def key_file_needed(explicit_key: str | None, environment: str) -> bool:
    """Whether the embedded default keeps its key in a file: the bundled sandbox, without QB_TOKEN_KEY."""
    return not explicit_key and environment == "sandbox-local"


def create_key_file(data_dir: Path) -> None:
    """The embedded default's key file, made once, beside the database it protects (by `qb-pipeline db
    upgrade` and make dev, which make the database too); an existing one is kept."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder is its owner's only
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(data_dir / KEY_FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key() + "\n")


def load_key(explicit_key: str | None, data_dir: Path, environment: str = defaults.ENVIRONMENT) -> str:
    """QB_TOKEN_KEY when given; else, for the embedded default only, its key file.

    With Intuit (QB_ENVIRONMENT sandbox or production) a generated file would give each machine or pod
    its own key, unable to read the tokens another one saved: the key must come from the environment.
    The file is never made here: a key made on first use, after the data folder was deleted, would
    silently stand for tokens that are gone.
    """
    if explicit_key:
        return explicit_key
    require_token_key(explicit_key, environment)
    path = data_dir / KEY_FILE_NAME
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise TokenKeyError(
            f"there is no token key at {path}: make it with `qb-pipeline db upgrade` (make dev does)"
        ) from None
