"""Schemathesis hooks for Slipway: sign up once, then send that user's token."""
import os
import uuid

import requests
import schemathesis


@schemathesis.auth()
class SlipwayToken:
    """Signs up a fresh user (the first one is the instance's admin)."""

    def get(self, case, ctx):
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
        case.headers["Authorization"] = f"Bearer {data}"
