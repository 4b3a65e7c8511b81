"""The WSGI entry point for gunicorn: `gunicorn webhook.wsgi:app`. Imports webhook."""

from webhook import create_app

app = create_app()
