"""The framework's ceiling: a bare Flask app with one text endpoint, no extensions.

``bench/server/run.py`` serves it with exactly the gunicorn settings of the espi-sst
server, so the difference between the two is what the server does per request.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "hello"
