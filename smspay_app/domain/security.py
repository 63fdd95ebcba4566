"""Secrets: admin passwords (argon2id, memory-hard), random tokens stored only as
hashes, and keyed hashes for low-entropy values such as identity answers."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with the library's recommended costs (RFC 9106, low-memory profile).
DEFAULT_PASSWORD_HASHER = PasswordHasher()
_hasher = DEFAULT_PASSWORD_HASHER

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash new passwords with ``hasher`` from now on; returns the previous one.
    The test suite uses argon2's cheapest profile (the same algorithm, tiny
    costs: it hashes hundreds of passwords); the app never calls this.
    Verification reads the costs from each stored hash, so both verify."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 16) -> str:
    """An unguessable token, base62 (URL-safe and short in an SMS).
    16 bytes = 128 bits -> 22 characters."""
    n = int.from_bytes(secrets.token_bytes(nbytes), "big")
    length = 22 if nbytes == 16 else len(_b62(2 ** (8 * nbytes) - 1))
    return _b62(n).rjust(length, "0")


def _b62(n: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(BASE62[r])
    return "".join(reversed(out)) or "0"


def hash_token(token: str) -> str:
    """Tokens carry 128 bits of entropy, so a plain SHA-256 is enough at rest."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_hash(secret_key: str, *parts: str) -> str:
    """HMAC-SHA256 over the parts: for low-entropy values (answers, codes) that
    must not be brute-forced from a database dump alone."""
    message = "\x1f".join(parts).encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()
