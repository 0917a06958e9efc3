"""WSGI entry point for gunicorn: `gunicorn -k gthread portal.wsgi:app`."""

from portal import create_app

app = create_app()
