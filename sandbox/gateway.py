"""The pieces of one running sandbox, held together and shared by every handler."""

from __future__ import annotations

import base64

from aiohttp import web

from sandbox.callbacks import DlrDispatcher
from sandbox.faults import FaultInjector
from sandbox.flooding import FloodingFilter
from sandbox.otp import OtpService
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState
from sandbox.submission import Submitter


class Sandbox:
    """Everything one running sandbox holds; shared by the handlers through the app."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.state = SandboxState(settings)
        self.faults = FaultInjector(settings.faults, self.state)
        self.flooding = FloodingFilter(settings.flooding)
        self.dlr = DlrDispatcher(settings, self.state)
        self.submitter = Submitter(settings, self.state, self.faults, self.flooding, self.dlr)
        self.otp = OtpService(self.state)

    def reset(self) -> None:
        self.state.reset()
        self.flooding.clear()
        self.dlr.clear()
        self.otp.clear()

    def reconfigure(self) -> None:
        self.flooding.configure()
        self.dlr.configure()

    def authorized(self, header: str) -> bool:
        s = self.settings
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "app":
            return value.strip() == s.api_key
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == s.username and password == s.password


SANDBOX = web.AppKey("sandbox", Sandbox)
