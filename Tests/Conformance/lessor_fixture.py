"""What both conformance suites share: where the live Lessor is, and Lessor's own admin calls
that no official SDK has (creating tokens and enqueuing work are Lessor's routes, sent with
plain httpx, which both SDKs already depend on)."""
import os
import httpx

URL = os.environ["LESSOR_URL"].rstrip("/")
ADMIN_TOKEN = os.environ["LESSOR_ADMIN_TOKEN"]


def admin(method, path, **kwargs):
    response = httpx.request(method, URL + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json()


def token_for(environment_ids):
    """A personal access token scoped to these environments (an "environment key")."""
    return admin("POST", "/api/v1/tokens", json={"name": "conformance", "environment_ids": environment_ids})["token"]


def enqueue(prefix, environment_id, count=1, metadata=None):
    """Enqueues through Lessor's own route under a family's prefix; returns the items' ids."""
    return [admin("POST", f"{prefix}/{environment_id}/work", json={"metadata": metadata or {}})["id"] for _ in range(count)]
