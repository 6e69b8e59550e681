"""Who is signed in and which sources they may read (the access scope).

AUDITLOG_USERS lists the users, either inline, `name:password:scopes` entries separated by `;`, or as the
path of a JSON file `{"alice": {"password": "...", "scopes": ["shop.orders"]}}`. Scopes are source names
separated by `,`; `*` means every source. A password written `sha256:<hex>` is compared by its SHA-256
digest, so the list need not hold clear text. With AUDITLOG_USERS unset there is one local user, all sources.

>>> hashed = "sha256:" + hashlib.sha256(b"pw").hexdigest()
>>> users = parse_users(f"alice:secret:shop.orders,shop.users;bob:{hashed}:*")
>>> users["alice"].user.allowed(["shop.orders", "shop.payments", "shop.users"])
['shop.orders', 'shop.users']
>>> users["bob"].check("pw"), users["bob"].user.scope_key
(True, '*')
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from etl.errors import ConfigurationError

ALL = "*"


@dataclass(frozen=True)
class User:
    """A signed-in user; `scopes` None means every source."""

    name: str
    scopes: frozenset[str] | None = None

    def allows(self, source: str) -> bool:
        """Whether this user may read `source`."""
        return self.scopes is None or source in self.scopes

    def allowed(self, sources: Iterable[str]) -> list[str]:
        """The sources of `sources` this user may read, order kept."""
        return [s for s in sources if self.allows(s)]

    @property
    def scope_key(self) -> str:
        """A stable text form of the scope, part of every cache key."""
        return ALL if self.scopes is None else ",".join(sorted(self.scopes))


LOCAL_USER = User("local")


@dataclass(frozen=True)
class Account:
    """A configured user and their password (clear text, or `sha256:<hex>`)."""

    user: User
    password: str

    def check(self, password: str) -> bool:
        """Constant-time password comparison."""
        if self.password.startswith("sha256:"):
            digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
            return hmac.compare_digest(digest, self.password.removeprefix("sha256:").lower())
        return hmac.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))


def _scopes(values: Iterable[str]) -> frozenset[str] | None:
    cleaned = [v.strip() for v in values if v.strip()]
    if not cleaned:
        raise ConfigurationError("AUDITLOG_USERS: a user has no scopes; list source names or '*'")
    if ALL in cleaned or "all" in cleaned:
        return None
    return frozenset(cleaned)


def parse_users(spec: str) -> dict[str, Account]:
    """Users from AUDITLOG_USERS (inline list or JSON file path); ConfigurationError (a ValueError) says
    what is malformed."""
    text = spec.strip()
    accounts: dict[str, Account] = {}
    if text.endswith(".json") and Path(text).is_file():
        data = json.loads(Path(text).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigurationError(f"{text}: expected an object of users")
        for name, entry in data.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("password"), str):
                raise ConfigurationError(f"{text}: user {name!r} needs a 'password' string")
            scopes = entry.get("scopes", [ALL])
            if isinstance(scopes, str):
                scopes = scopes.split(",")
            accounts[name] = Account(User(name, _scopes(scopes)), entry["password"])
        return accounts
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        name, sep, rest = entry.partition(":")
        password, sep2, scopes = rest.rpartition(":")
        if not (sep and sep2 and name and password):
            raise ConfigurationError(
                f"AUDITLOG_USERS entry {entry.split(':')[0]!r}: expected name:password:scope1,scope2 "
                "(scope * for every source)"
            )
        accounts[name.strip()] = Account(User(name.strip(), _scopes(scopes.split(","))), password)
    if not accounts:
        raise ConfigurationError(
            "AUDITLOG_USERS is set but lists no user; unset it or add name:password:scopes"
        )
    return accounts


def authenticate(accounts: dict[str, Account], name: str, password: str) -> User | None:
    """The user when name and password match, else None."""
    account = accounts.get(name.strip())
    if account is None:
        # Same work either way, so timing does not tell which names exist.
        Account(LOCAL_USER, "x").check(password)
        return None
    return account.user if account.check(password) else None
