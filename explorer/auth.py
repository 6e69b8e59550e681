"""Who is signed in, which sources they may read and which roles they hold (DESIGN §10).

Sign-in is Streamlit's OIDC (`st.login`, configured in `.streamlit/secrets.toml` [auth]); this module never
sees a password. It turns the ID token's claims into a `User` through a claim mapping file
(AUDITLOG_AUTH_MAPPING, JSON):

    {"name_claims": ["email", "preferred_username", "sub"],
     "groups_claim": "groups",
     "groups": {"audit-compliance": {"sources": ["*"], "roles": ["pii"]},
                "audit-operators":  {"sources": ["*"], "roles": ["operator"]},
                "support-orders":   {"sources": ["shop.orders", "shop.users"]}}}

A user's sources and roles are the union over the groups they are in; a user in no listed group reads
nothing. Roles: `pii` (sees personal data unmasked), `operator` (sees the Pipeline page's cross-source
figures and the quarantine). With no sign-in configured there is one local user with every source and role.

>>> mapping = ClaimMapping.from_dict({"groups": {"support": {"sources": ["shop.orders"]},
...                                              "ops": {"sources": ["*"], "roles": ["operator"]}}})
>>> bob = mapping.user_for({"email": "bob@example.com", "groups": ["support"]})
>>> bob.name, bob.allowed(["shop.orders", "shop.users"]), bob.has("operator")
('bob@example.com', ['shop.orders'], False)
>>> mapping.user_for({"sub": "u-7", "groups": ["support", "ops"]}).scope_key
'*|operator'
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.errors import ConfigurationError
from etl.settings import Settings, read_json_setting, setting

ALL = "*"
ROLES = ("pii", "operator")
MAPPING_ENV = "AUDITLOG_AUTH_MAPPING"


@dataclass(frozen=True)
class User:
    """A signed-in user; `scopes` None means every source, an empty set means none."""

    name: str
    scopes: frozenset[str] | None = None
    roles: frozenset[str] = frozenset()

    def allows(self, source: str) -> bool:
        """Whether this user may read `source`."""
        return self.scopes is None or source in self.scopes

    def allowed(self, sources: Iterable[str]) -> list[str]:
        """The sources of `sources` this user may read, order kept."""
        return [s for s in sources if self.allows(s)]

    def has(self, role: str) -> bool:
        """Whether this user holds `role` (one of ROLES)."""
        return role in self.roles

    @property
    def scope_key(self) -> str:
        """A stable text form of scope and roles, part of every cache key (roles change what is shown)."""
        scope = ALL if self.scopes is None else ",".join(sorted(self.scopes))
        return f"{scope}|{','.join(sorted(self.roles))}"


LOCAL_USER = User("local", None, frozenset(ROLES))


@dataclass(frozen=True)
class Grant:
    """What one group of the identity provider may do: sources (None = all) and roles."""

    sources: frozenset[str] | None = frozenset()
    roles: frozenset[str] = frozenset()


def _grant(group: str, entry: object, where: str) -> Grant:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: group {group!r} must be an object with 'sources' and/or 'roles'")
    sources = entry.get("sources", [])
    roles = entry.get("roles", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigurationError(f"{where}: group {group!r}: 'sources' must be a list of source names or '*'")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ConfigurationError(f"{where}: group {group!r}: 'roles' must be a list of role names")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ConfigurationError(f"{where}: group {group!r}: unknown roles {unknown}; known: {list(ROLES)}")
    cleaned = {s.strip() for s in sources if s.strip()}
    return Grant(None if ALL in cleaned else frozenset(cleaned), frozenset(roles))


@dataclass(frozen=True)
class ClaimMapping:
    """ID-token claims -> User: the name claim(s), the groups claim and each group's grant."""

    groups: Mapping[str, Grant] = field(default_factory=dict)
    groups_claim: str = "groups"
    name_claims: tuple[str, ...] = ("email", "preferred_username", "sub")

    @classmethod
    def from_dict(cls, data: object, where: str = MAPPING_ENV) -> ClaimMapping:
        """A mapping from its JSON object; ConfigurationError says which key is wrong."""
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where}: expected a JSON object with a 'groups' object")
        groups = data.get("groups")
        if not isinstance(groups, dict) or not groups:
            raise ConfigurationError(f"{where}: 'groups' must be an object naming at least one group")
        names = data.get("name_claims", list(cls.name_claims))
        claim = data.get("groups_claim", cls.groups_claim)
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ConfigurationError(f"{where}: 'name_claims' must be a non-empty list of claim names")
        if not isinstance(claim, str) or not claim:
            raise ConfigurationError(f"{where}: 'groups_claim' must be a claim name")
        return cls(
            groups={str(g): _grant(str(g), e, where) for g, e in groups.items()},
            groups_claim=claim,
            name_claims=tuple(names),
        )

    @classmethod
    def load(cls, path: str | Path) -> ClaimMapping:
        """Read the mapping file; a missing or malformed file is a ConfigurationError naming it."""
        data, where = read_json_setting(path, MAPPING_ENV)
        return cls.from_dict(data, where=where)

    def user_for(self, claims: Mapping[str, Any]) -> User:
        """The user these claims describe: the first present name claim, the union of their groups' grants."""
        name = next((str(claims[c]) for c in self.name_claims if claims.get(c)), "unknown")
        raw = claims.get(self.groups_claim) or []
        member_of = [raw] if isinstance(raw, str) else [str(g) for g in raw] if isinstance(raw, list) else []
        grants = [self.groups[g] for g in member_of if g in self.groups]
        every = any(g.sources is None for g in grants)
        sources: frozenset[str] | None = (
            None if every else frozenset().union(*(g.sources or frozenset() for g in grants))
        )
        roles = frozenset().union(*(g.roles for g in grants))
        return User(name, sources, roles)


def token_expired(claims: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the ID token's `exp` (seconds since 1970) has passed; a token without `exp` never expires here.

    >>> token_expired({"exp": 100}, now=101), token_expired({"exp": 100}, now=99), token_expired({})
    (True, False, False)
    """
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return False
    return float(exp) <= (time.time() if now is None else now)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(address: str | None) -> bool:
    """Whether a server address only listens on this machine (empty means every interface: not loopback).

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("")
    (True, True, False, False)
    """
    if not address:
        return False
    return address in LOOPBACK or address.startswith("127.")


@dataclass(frozen=True)
class AuthSettings(Settings):
    """The sign-in settings beside `.streamlit/secrets.toml` [auth] (which holds the OIDC client itself)."""

    auth_mapping: str = setting(
        "",
        "path of the JSON file that maps ID-token claims (groups) to source scopes and roles; required "
        "when sign-in is configured",
    )
    allow_remote_without_signin: bool = setting(
        False,
        "serve on an address other than loopback with no sign-in configured (everyone who reaches it reads "
        "every source); off by default",
    )
