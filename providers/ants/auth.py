"""ANTS's `Authorization` header, built from the raw ANTS_* settings."""

from __future__ import annotations

import base64

from config.settings import Settings


def auth_header(settings: Settings) -> str:
    """`App {ANTS_API_KEY}` when the key is set, else Basic over ANTS_USERNAME:ANTS_PASSWORD."""
    if settings.ants_api_key:
        return f"App {settings.ants_api_key}"
    raw = f"{settings.ants_username}:{settings.ants_password}".encode()
    return "Basic " + base64.b64encode(raw).decode()
