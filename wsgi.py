"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi run``."""
from feedsvc.cli import app_or_exit

app = app_or_exit()
