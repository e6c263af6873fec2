"""gunicorn's entry point: ``gunicorn 'bbp_portal.wsgi:create_app()'``."""

from bbp_portal.app import create_app

__all__ = ["create_app"]
