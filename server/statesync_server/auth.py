"""JWT authentication with PyJWT: verification (HS*, RS*/ES* key, a JWKS file, or an identity
provider's JWKS URL, fetched, cached and refetched on key rotation) and minting."""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from .errors import ErrorCode, StatesyncError

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger("statesync")

DEV_SECRET_FILE = ".statesync-secret"
MAX_SUBJECT = 200
ADMIN_CLAIM = "statesync_admin"
"""The admin credential: a verified token with this claim set to `true` (never an anonymous
session) may use the admin routes, the inspector and upgrades (`statesync token --admin`)."""

Claims = Mapping[str, Any]
"""A verified token's claims."""


@dataclass(frozen=True)
class AuthConfig:
    """How tokens are checked (and minted for development and anonymous sessions).

    Give one of: `secret` (HS256), `public_key` (PEM text or file; add `private_key` to
    mint), `jwks_file`, or `jwks_url` (an identity provider's key set: Auth0, Clerk, Supabase,
    Firebase...; docs/auth.md). With none, `$STATESYNC_SECRET` is used, else a development
    secret kept in `./.statesync-secret`. `audience` / `issuer` are required to match when
    set (with `jwks_url`, `issuer` must be the provider's); `exp` and `sub` are always required.

    `jwks_url`'s key set is fetched at start-up and cached for `jwks_cache_seconds`; a token
    whose `kid` is not in it (the provider rotated its keys) fetches it again, at most once
    per `jwks_refetch_cooldown` seconds (PyJWT's `PyJWKClient`); a fetch waits at most
    `jwks_timeout` seconds.
    """

    secret: str | None = None
    public_key: str | None = None
    private_key: str | None = None
    jwks_file: str | None = None
    jwks_url: str | None = None
    algorithms: tuple[str, ...] | None = None
    audience: str | None = "statesync"
    issuer: str | None = "statesync"
    token_ttl: int = 3600
    leeway: float = 0.0
    jwks_cache_seconds: float = 300.0
    jwks_refetch_cooldown: float = 30.0
    jwks_timeout: float = 5.0


def _pem(value: str) -> str:
    return value if value.lstrip().startswith("-----BEGIN") else Path(value).read_text()


def _dev_secret() -> str:
    path = Path(DEV_SECRET_FILE)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
        log.warning("created a new development JWT secret in %s: only a server using this "
                    "file (started in this directory) accepts tokens made with it",
                    path.resolve())
    log.warning("using the development JWT secret in %s (set STATESYNC_SECRET)", path.resolve())
    return path.read_text().strip()


def _check_claims(claims: dict[str, Any]) -> None:
    """`exp`, `nbf`, `iat` are finite numbers and `sub` a string of 1-200 characters (PyJWT
    compares times without checking their type, so `"exp": NaN` would never expire)."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise StatesyncError(ErrorCode.UNAUTHENTICATED, f"invalid token: '{name}' is not a number")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= MAX_SUBJECT or "\x00" in sub:
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "invalid token: 'sub' is not a string "
                             f"of 1-{MAX_SUBJECT} characters without NUL")


class Authenticator:
    """Verifies tokens into claims and mints tokens from the configured key."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_client: jwt.PyJWKClient | None = None
        self._signing_key: Any = None
        self.dev_secret = False
        if config.jwks_url:
            if config.issuer in (None, AuthConfig.issuer):
                raise ValueError("AuthConfig(jwks_url=...) needs issuer= the provider's issuer "
                                 "(the `iss` of its tokens, docs/auth.md)")
            self._jwks_client = jwt.PyJWKClient(
                config.jwks_url, cache_jwk_set=True, lifespan=config.jwks_cache_seconds,
                timeout=config.jwks_timeout, cooldown_duration=config.jwks_refetch_cooldown)
            self._verify_key = None
            self.algorithms = list(config.algorithms or ("RS256", "ES256", "EdDSA"))
            self._prefetch()
        elif config.jwks_file:
            self._jwks = jwt.PyJWKSet.from_json(Path(config.jwks_file).read_text())
            self._verify_key: Any = None
            self.algorithms = list(config.algorithms or ("RS256", "ES256", "EdDSA"))
        elif config.public_key:
            self._verify_key = _pem(config.public_key)
            self._signing_key = _pem(config.private_key) if config.private_key else None
            self.algorithms = list(config.algorithms or ("RS256",))
        else:
            self.dev_secret = not (config.secret or os.environ.get("STATESYNC_SECRET"))
            """Whether the key is the development secret of `./.statesync-secret`."""
            secret = config.secret or os.environ.get("STATESYNC_SECRET") or _dev_secret()
            self._verify_key = self._signing_key = secret
            self.algorithms = list(config.algorithms or ("HS256",))
        if any(a.lower() == "none" for a in self.algorithms):
            raise ValueError("the 'none' algorithm is never accepted")

    def _prefetch(self) -> None:
        """Fetch the provider's key set now, so requests find it cached (a failure is logged:
        the first token fetches it again)."""
        assert self._jwks_client is not None
        try:
            self._jwks_client.get_jwk_set()
        except jwt.PyJWTError as exc:
            log.warning("could not fetch the JWKS at %s (tokens will fetch it): %s",
                        self.config.jwks_url, exc)

    @property
    def source(self) -> str:
        """A short description of the key in use, for the startup log."""
        if self._jwks_client is not None:
            return f"JWKS {self.config.jwks_url} (issuer {self.config.issuer})"
        if self._jwks is not None:
            return f"JWKS {self.config.jwks_file}"
        return f"{'/'.join(self.algorithms)} key"

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise `unauthenticated`."""
        try:
            key = self._verify_key
            if self._jwks_client is not None:  # cached; refetched for an unknown kid
                key = self._jwks_client.get_signing_key_from_jwt(token).key
            elif self._jwks is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                key = self._jwks[kid].key
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway,
                options={"require": ["exp", "sub"], "verify_aud": self.config.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise StatesyncError(ErrorCode.UNAUTHENTICATED, "token expired") from None
        except jwt.InvalidSignatureError as exc:
            hint = (" (this server uses the development secret in the .statesync-secret file "
                    "of the directory it was started in: run `statesync token` there, or set "
                    "the same STATESYNC_SECRET for both)") if self.dev_secret else ""
            raise StatesyncError(ErrorCode.UNAUTHENTICATED, f"invalid token: {exc}{hint}") from None
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise StatesyncError(ErrorCode.UNAUTHENTICATED, f"invalid token: {exc}") from None
        _check_claims(claims)
        return claims

    def key_material(self) -> bytes | None:
        """The secret other server keys are derived from (query cursors): the HS secret or
        the private key; None when the server only verifies (JWKS, public key)."""
        if self._signing_key is None:
            return None
        key = self._signing_key
        return key.encode() if isinstance(key, str) else bytes(key)

    def mint(self, sub: str, claims: dict[str, Any] | None = None, ttl: int | None = None) -> str:
        """A signed token for `sub` (development tokens and anonymous sessions)."""
        if self._signing_key is None:
            raise ValueError("no signing key configured (set private_key or secret)")
        now = int(time.time())
        payload: dict[str, Any] = {
            **(claims or {}),
            "sub": sub,
            "iat": now,
            "exp": now + (ttl if ttl is not None else self.config.token_ttl),
        }
        if self.config.audience is not None:
            payload["aud"] = self.config.audience
        if self.config.issuer is not None:
            payload["iss"] = self.config.issuer
        return jwt.encode(payload, self._signing_key, algorithm=self.algorithms[0])

    def renewable(self, token: str | None) -> str | None:
        """The subject of `token` if it is a still-valid anonymous session token."""
        try:
            claims = self.verify(token) if token else {}
        except StatesyncError:
            return None
        return claims["sub"] if claims.get("anon") is True else None

    def anonymous(self, sub: str | None = None) -> tuple[str, str, int]:
        """An anonymous session token for `sub` (a renewal) or a fresh random subject:
        (token, subject, expiry)."""
        sub = sub or f"anon:{uuid.uuid4().hex}"
        token = self.mint(sub, {"anon": True})
        return token, sub, int(time.time()) + self.config.token_ttl


def is_admin(claims: Claims) -> bool:
    """Whether verified `claims` carry the admin credential."""
    return claims.get(ADMIN_CLAIM) is True and claims.get("anon") is not True


def check_admin(claims: Claims | None) -> Claims:
    """`claims` if they are live and an admin's; else `unauthenticated` (no or expired token)
    or `forbidden` (a valid token without the admin claim)."""
    if not claims:
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "authenticate first")
    if claims.get("exp", 0) < time.time():
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "token expired")
    if not is_admin(claims):
        raise StatesyncError(ErrorCode.FORBIDDEN, f"this needs an admin token ({ADMIN_CLAIM}: true)")
    return claims


def require_admin(request: Request) -> Claims:
    """The claims of the request's `Authorization: Bearer` token when it is an admin's.

    Raises `StatesyncError` `unauthenticated` (401: no, malformed, invalid or expired token)
    or `forbidden` (403: a valid token, anonymous sessions included, without the admin claim).
    Any Starlette route of the statesync app can call it before reading anything.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise StatesyncError(ErrorCode.UNAUTHENTICATED, "send 'Authorization: Bearer <admin token>'")
    authenticator: Authenticator = request.app.state.runtime.auth
    return check_admin(authenticator.verify(token.strip()))
