"""The WSGI entry point for gunicorn: `gunicorn webhook.wsgi:app`. Imports webhook."""

from webhook import create_app
from webhook.startup import freeze_start_up_objects

app = create_app()
freeze_start_up_objects()  # each worker imports this module once: its start-up objects
