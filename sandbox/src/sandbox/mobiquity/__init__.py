"""The Mobiquity stand-in: every endpoint of shared/mobiquity-api.md plus the control API."""

from sandbox.mobiquity.app import create_app

__all__ = ["create_app"]
