"""The admin credential: `statesync token --admin` and the check every admin route makes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from statesync_server.auth import ADMIN_CLAIM, AuthConfig, Authenticator, check_admin
from statesync_server.errors import ErrorCode, StatesyncError

SECRET = "inspector-test-secret-0123456789abcdef"


def test_token_admin_flag_mints_the_admin_claim(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "statesync_server", "token", "--sub", "ops", "--admin"],
        capture_output=True, text=True, env={**os.environ, "STATESYNC_SECRET": SECRET},
        cwd=tmp_path, timeout=30, check=True)
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"],
                        audience="statesync", issuer="statesync")
    assert claims["sub"] == "ops" and claims[ADMIN_CLAIM] is True
    check_admin(claims)


@pytest.mark.parametrize(("claims", "code"), [
    (None, ErrorCode.UNAUTHENTICATED),
    ({"sub": "ops", ADMIN_CLAIM: True, "exp": time.time() - 1}, ErrorCode.UNAUTHENTICATED),
    ({"sub": "alice", "exp": time.time() + 10**7}, ErrorCode.FORBIDDEN),
    ({"sub": "alice", "exp": time.time() + 10**7, ADMIN_CLAIM: "true"}, ErrorCode.FORBIDDEN),
    ({"sub": "alice", "exp": time.time() + 10**7, "admin": True}, ErrorCode.FORBIDDEN),
    ({"sub": "anon:1", "exp": time.time() + 10**7, "anon": True, ADMIN_CLAIM: True},
     ErrorCode.FORBIDDEN),
])
def test_only_a_live_admin_token_passes(claims: dict | None, code: ErrorCode) -> None:
    with pytest.raises(StatesyncError) as raised:
        check_admin(claims)
    assert raised.value.code is code


def test_anonymous_session_tokens_are_never_admin() -> None:
    auth = Authenticator(AuthConfig(secret=SECRET))
    token, _, _ = auth.anonymous()
    with pytest.raises(StatesyncError) as raised:
        check_admin(auth.verify(token))
    assert raised.value.code is ErrorCode.FORBIDDEN
