"""The baseline for benchmarks/web.py: a bare Flask "hello" app, served with the same gunicorn
settings as the real one (webapp/gunicorn_conf.py)."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
