"""Token verification with each key kind (HS256 secret, RS256 PEM, ES256 JWKS file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from statesync_server import AuthConfig, Authenticator, ErrorCode, StatesyncError


def claims(**extra: object) -> dict:
    return {"sub": "alice", "exp": int(time.time()) + 60, "aud": "statesync", "iss": "statesync",
            **extra}


def pem(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_rs256_public_key_verifies_and_private_key_mints() -> None:
    private, public = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    auth = Authenticator(AuthConfig(public_key=public, private_key=private))
    assert auth.verify(auth.mint("bob", {"role": "admin"}))["role"] == "admin"
    assert auth.verify(jwt.encode(claims(), private, algorithm="RS256"))["sub"] == "alice"
    other, _ = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(StatesyncError) as raised:
        auth.verify(jwt.encode(claims(), other, algorithm="RS256"))
    assert raised.value.code == ErrorCode.UNAUTHENTICATED


def test_jwks_file_selects_the_key_by_kid(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256"}]}))
    auth = Authenticator(AuthConfig(jwks_file=str(tmp_path / "jwks.json"), issuer=None))
    token = jwt.encode(claims(), key, algorithm="ES256", headers={"kid": "k1"})
    assert auth.verify(token)["sub"] == "alice"
    unknown = jwt.encode(claims(), key, algorithm="ES256", headers={"kid": "k2"})
    with pytest.raises(StatesyncError):
        auth.verify(unknown)


def test_none_algorithm_cannot_be_configured() -> None:
    with pytest.raises(ValueError):
        Authenticator(AuthConfig(secret="x" * 32, algorithms=("none",)))


def test_expiry_and_issuer_are_checked() -> None:
    auth = Authenticator(AuthConfig(secret="s" * 32))
    for bad in (claims(exp=int(time.time()) - 5), claims(iss="someone-else")):
        with pytest.raises(StatesyncError) as raised:
            auth.verify(jwt.encode(bad, "s" * 32, algorithm="HS256"))
        assert raised.value.code == ErrorCode.UNAUTHENTICATED
