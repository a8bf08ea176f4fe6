"""API keys: random secrets shown once, stored only as salted hashes, revocable."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "mk_"
SCOPES = ("query", "feedback", "admin")


class KeyError_(Exception):
    """A key request that cannot be honoured (unknown id, bad scope)."""


@dataclass
class StoredKey:
    id: str
    name: str
    scopes: list[str]
    salt: str
    digest: str
    created_at: str
    revoked_at: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


class KeyStore:
    """A JSON file of hashed keys; re-read when it changes, so revocation needs no restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._keys: dict[str, StoredKey] = {}

    def _load(self) -> dict[str, StoredKey]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return self._keys
        if mtime != self._mtime:
            raw = json.loads(self.path.read_text())
            self._keys = {k["id"]: StoredKey(**k) for k in raw.get("keys", [])}
            self._mtime = mtime
        return self._keys

    def _save(self, keys: dict[str, StoredKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"keys": [asdict(k) for k in keys.values()]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)  # atomic: a reader never sees half a file
        self._mtime = None

    def create(self, name: str, scopes: list[str]) -> tuple[StoredKey, str]:
        """A new key; the plaintext is returned once and never stored."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise KeyError_(f"scopes must be among {list(SCOPES)}, got {scopes}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        stored = StoredKey(
            id=key_id,
            name=name,
            scopes=sorted(set(scopes)),
            salt=salt,
            digest=_digest(salt, secret),
            created_at=datetime.now(UTC).isoformat(),
        )
        with self._lock:
            keys = dict(self._load())
            keys[key_id] = stored
            self._save(keys)
        return stored, f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> StoredKey:
        with self._lock:
            keys = dict(self._load())
            if key_id not in keys:
                raise KeyError_(f"no key with id {key_id}")
            keys[key_id].revoked_at = datetime.now(UTC).isoformat()
            self._save(keys)
            return keys[key_id]

    def list(self) -> list[StoredKey]:
        with self._lock:
            return list(self._load().values())

    def verify(self, presented: str) -> StoredKey | None:
        """The active key matching a presented `mk_<id>_<secret>`, or None."""
        if not presented.startswith(PREFIX):
            return None
        key_id, _, secret = presented[len(PREFIX) :].partition("_")
        with self._lock:
            stored = self._load().get(key_id)
        if stored is None or not stored.active or not secret:
            return None
        if not hmac.compare_digest(stored.digest, _digest(stored.salt, secret)):
            return None
        return stored
