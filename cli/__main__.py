"""Allow ``python -m cli`` (the tests run the command this way, from the checkout)."""

from cli.main import app

app()
