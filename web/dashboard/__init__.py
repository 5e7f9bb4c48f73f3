"""The server-rendered dashboard (Jinja2 + HTMX) for QA reviewers and trainers."""
