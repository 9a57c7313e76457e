"""Schemathesis hooks for Slipway: sign up once, then send that user's token."""
import os
import threading
import uuid

import requests
import schemathesis


_LOCK = threading.Lock()
_TOKEN = []


@schemathesis.auth()
class SlipwayToken:
    """Signs up one user for the whole run: the instance's first user, so
    its admin, and every worker uses its token (admin-only operations get
    exercised too)."""

    def get(self, case, ctx):
        with _LOCK:
            if not _TOKEN:
                _TOKEN.append(self._signup())
            return _TOKEN[0]

    def _signup(self):
        base = os.environ["SLIPWAY_URL"]
        name = uuid.uuid4().hex[:12]
        resp = requests.post(
            f"{base}/auth/signup",
            json={
                "name": f"fuzz {name}",
                "email": f"fuzz-{name}@example.com",
                "password": f"password-{name}",
            },
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()["accessToken"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        if getattr(case.operation, "path", "") in _SESSION_ENDING:
            # These end the caller's older tokens: give them a throwaway
            # user's, so the shared admin token keeps working for the rest.
            data = self._signup()
        case.headers["Authorization"] = f"Bearer {data}"


# Operations that end the caller's sessions when they succeed.
_SESSION_ENDING = {"/auth/signout-all", "/auth/password"}
