"""Tokens of an identity provider: its JWKS URL fetched, cached, refetched when it rotates its
keys (rate limited), issuer and audience checked. Against a JWKS server on 127.0.0.1 that
rotates its keys, as Auth0, Clerk, Supabase or Firebase do."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from statesync_server import AuthConfig, ErrorCode, StatesyncError
from statesync_server.auth import Authenticator
from statesync_server.testing import ServerProcess

ISSUER = "https://idp.test/"
AUDIENCE = "notes-api"


class JwksServer:
    """A provider's `/.well-known/jwks.json` on 127.0.0.1: `rotate()` makes a new key the
    signing key (`keep_old` keeps the previous one published); `fetches` counts GETs."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, Any]] = []
        self.published: list[str] = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.fetches += 1
                body = json.dumps({"keys": [server.jwk(kid) for kid in server.published]})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}/.well-known/jwks.json"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.rotate()

    def rotate(self, *, keep_old: bool = False) -> str:
        kid = uuid.uuid4().hex
        self.keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        self.published = [*(self.published if keep_old else []), kid]
        return kid

    def jwk(self, kid: str) -> dict[str, Any]:
        key = dict(self.keys)[kid]
        return {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
                "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, sub: str = "auth0|alice", *, kid: str | None = None, **claims: Any) -> str:
        kid = kid or self.keys[-1][0]
        payload = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
                   **claims}
        return jwt.encode(payload, dict(self.keys)[kid], algorithm="RS256",
                          headers={"kid": kid})

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.stop()


def _auth(idp: JwksServer, **options: Any) -> Authenticator:
    return Authenticator(AuthConfig(jwks_url=idp.url, issuer=ISSUER, audience=AUDIENCE,
                                    **options))


def _refused(auth: Authenticator, token: str) -> str:
    with pytest.raises(StatesyncError) as raised:
        auth.verify(token)
    assert raised.value.code == ErrorCode.UNAUTHENTICATED
    return raised.value.message


def test_the_key_set_is_fetched_once_and_issuer_and_audience_are_checked(idp) -> None:
    auth = _auth(idp)
    assert idp.fetches == 1  # at start-up
    for _ in range(5):
        assert auth.verify(idp.token())["sub"] == "auth0|alice"
    assert idp.fetches == 1  # cached
    assert "issuer" in _refused(auth, idp.token(iss="https://evil.test/")).lower()
    assert "audience" in _refused(auth, idp.token(aud="another-api")).lower()
    assert "expired" in _refused(auth, idp.token(exp=int(time.time()) - 10))
    forged = jwt.encode({"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE,
                         "exp": int(time.time()) + 60}, "s" * 32, algorithm="HS256",
                        headers={"kid": idp.keys[-1][0]})
    _refused(auth, forged)  # an HS256 token naming the provider's kid


def test_a_rotated_key_is_fetched_when_a_token_names_it(idp) -> None:
    auth = _auth(idp, jwks_refetch_cooldown=0)
    old = idp.token()
    assert auth.verify(old)["sub"] == "auth0|alice"
    idp.rotate()  # the provider signs with a new key and stops publishing the old one
    assert auth.verify(idp.token(sub="auth0|bob"))["sub"] == "auth0|bob"
    assert idp.fetches == 2  # the unknown kid fetched the set once
    assert auth.verify(idp.token(sub="auth0|carol"))["sub"] == "auth0|carol"
    assert idp.fetches == 2
    _refused(auth, old)  # its key is gone from the set


def test_unknown_key_ids_refetch_at_most_once_per_cooldown(idp) -> None:
    auth = _auth(idp, jwks_refetch_cooldown=3600)
    idp.rotate()
    for _ in range(20):  # a rotated key, and made-up kids: none may hammer the provider
        _refused(auth, idp.token())
        _refused(auth, idp.token(kid=idp.rotate(keep_old=True)))
    assert idp.fetches == 1  # only the start-up fetch: inside the cooldown


def test_a_jwks_url_needs_the_providers_issuer(idp) -> None:
    with pytest.raises(ValueError, match="issuer"):
        Authenticator(AuthConfig(jwks_url=idp.url))
    with pytest.raises(jwt.PyJWKClientError):
        Authenticator(AuthConfig(jwks_url="file:///etc/passwd", issuer=ISSUER))


def test_a_server_accepts_the_providers_tokens(idp, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWKS_URL", idp.url)
    server = ServerProcess(Path(__file__).parent / "apps" / "jwksapp.py",
                           tmp_path / "jwks.db").start()
    try:
        assert f"JWKS {idp.url}" in server.log()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            created = http.post("/v1/instances/note/n1",
                                headers={"authorization": f"Bearer {idp.token()}"})
            assert created.status_code == 201, created.text
            idp.rotate()
            wrong = http.get("/v1/instances/note/n1",
                             headers={"authorization": f"Bearer {idp.token(iss='https://x/')}"})
            assert wrong.status_code == 401
    finally:
        server.stop()
