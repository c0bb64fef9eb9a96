"""The API's bearer tokens: kept as SHA-256 hashes, each with a name and a role.

A token is 32 random bytes (URL-safe text), shown once when made; only its hash is stored,
one ``name role sha256`` line per token, in the site's tokens file or in the environment
variable :data:`TOKENS_ENV` (lines, or entries separated by commas). A hash of so random a
token needs no slow hash: guessing it is as hard as guessing the token.
"""

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gridq.errors import ConfigError

TOKENS_ENV = "GRIDQ_API_TOKENS"
ROLES = ("viewer", "operator")
"""In rising power: an operator may do all a viewer may, and set or clear overrides."""


@dataclass(frozen=True)
class Caller:
    """Who a valid token belongs to."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this caller holds ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def token_hash(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token, to be shown once."""
    return secrets.token_urlsafe(32)


class Tokens:
    """The hashed tokens an API accepts."""

    def __init__(self, entries: dict[str, Caller]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, text: str, where: str) -> "Tokens":
        """Read ``name role sha256`` entries; ``where`` names their source in errors."""
        entries: dict[str, Caller] = {}
        for number, line in enumerate(text.replace(",", "\n").splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 3 or fields[1] not in ROLES or not _is_sha256(fields[2]):
                raise ConfigError(
                    f"{where}: entry {number} is not 'name role sha256' with role viewer or "
                    "operator and a 64-digit hex hash; write it with gridq live token"
                )
            entries[fields[2].lower()] = Caller(fields[0], fields[1])
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> "Tokens":
        """From :data:`TOKENS_ENV` where set, else from ``path`` (none: no one gets in)."""
        if TOKENS_ENV in os.environ:
            return cls.parse(os.environ[TOKENS_ENV], TOKENS_ENV)
        try:
            return cls.parse(path.read_text(encoding="utf-8"), str(path))
        except FileNotFoundError:
            return cls({})

    def __len__(self) -> int:
        return len(self._entries)

    def caller(self, token: str) -> Caller | None:
        """Whose ``token`` this is, or None; compared in constant time against every hash."""
        offered = token_hash(token)
        found = None
        for digest, caller in self._entries.items():
            if hmac.compare_digest(digest, offered):
                found = caller
        return found


def token_line(name: str, role: str, token: str) -> str:
    """The tokens file's line for a new token."""
    return f"{name} {role} {token_hash(token)}\n"


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
