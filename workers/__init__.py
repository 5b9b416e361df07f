"""Celery worker and beat: thin tasks over the app's services."""
