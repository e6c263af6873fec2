"""The portal: Flask pages and JSON API. Build it with :func:`create_app`."""

from bbp_portal.app import create_app

__all__ = ["create_app"]
