"""The environment's settings (webapp/settings.py): good values parse, a bad one stops start-up
with one line that names the variable (SettingsError, which gunicorn prints as that line)."""

from __future__ import annotations

import pytest

from webapp.settings import SettingsError, settings_from_env


@pytest.mark.parametrize(
    ("variable", "text", "key", "value"),
    [
        ("MOVIEREC_RELOAD_INTERVAL", "0.5", "RELOAD_INTERVAL", 0.5),
        ("MOVIEREC_RELOAD_INTERVAL", "-1", "RELOAD_INTERVAL", -1.0),
        ("MOVIEREC_SECURE_COOKIES", "1", "SESSION_COOKIE_SECURE", True),
        ("MOVIEREC_SECURE_COOKIES", "True", "SESSION_COOKIE_SECURE", True),
        ("MOVIEREC_SECURE_COOKIES", "on", "SESSION_COOKIE_SECURE", True),
        ("MOVIEREC_SECURE_COOKIES", "0", "SESSION_COOKIE_SECURE", False),
        ("MOVIEREC_SECURE_COOKIES", "no", "SESSION_COOKIE_SECURE", False),
        ("MOVIEREC_RATE_LIMIT_VISITOR", "0", "RATE_LIMIT_VISITOR", 0),
        ("MOVIEREC_RATE_LIMIT_ADDRESS", "1200", "RATE_LIMIT_ADDRESS", 1200),
        ("MOVIEREC_PROXY_COUNT", "2", "PROXY_COUNT", 2),
        ("MOVIEREC_DATABASE_PATH", "/srv/feedback.sqlite3", "DATABASE_PATH", "/srv/feedback.sqlite3"),
    ],
)
def test_good_values_parse(variable: str, text: str, key: str, value: object) -> None:
    found = settings_from_env({variable: text})
    assert found == {key: value} and type(found[key]) is type(value)


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        # "true" used to turn secure cookies off without a word: only "1" counted
        ("MOVIEREC_SECURE_COOKIES", "maybe"),
        ("MOVIEREC_SECURE_COOKIES", "2"),
        ("MOVIEREC_RELOAD_INTERVAL", "abc"),
        ("MOVIEREC_RELOAD_INTERVAL", "nan"),
        ("MOVIEREC_RELOAD_INTERVAL", "inf"),
        ("MOVIEREC_RELOAD_INTERVAL", "1e9"),
        ("MOVIEREC_RATE_LIMIT_VISITOR", "-5"),
        ("MOVIEREC_RATE_LIMIT_VISITOR", "٣"),  # int() takes Arabic-Indic digits
        ("MOVIEREC_RATE_LIMIT_ADDRESS", " 600"),
        ("MOVIEREC_RATE_LIMIT_ADDRESS", "1000001"),
        ("MOVIEREC_PROXY_COUNT", "11"),
        ("MOVIEREC_PROXY_COUNT", "²"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_and_the_value(variable: str, text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env({variable: text})
    message = str(caught.value)
    assert message.startswith(f"{variable} must be ") and repr(text) in message
    assert "\n" not in message
    assert isinstance(caught.value, RuntimeError)  # gunicorn prints a RuntimeError as one line


def test_empty_variables_count_as_unset() -> None:
    assert settings_from_env({"MOVIEREC_SECURE_COOKIES": "", "MOVIEREC_PROXY_COUNT": ""}) == {}


def test_the_database_command_refuses_a_bad_setting_in_one_line(monkeypatch, capsys) -> None:
    from webapp.db import main

    monkeypatch.setenv("MOVIEREC_RATE_LIMIT_VISITOR", "lots")
    assert main(["current"]) == 1
    err = capsys.readouterr().err
    assert (
        err == "error: MOVIEREC_RATE_LIMIT_VISITOR must be a whole number from 0 to 1,000,000, got 'lots'\n"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url:secret", "the database URL is not an SQLAlchemy URL; expected e.g. postgresql"),
        ("nosuchdb://u:secret@h/x", "database nosuchdb://u:***@h/x: SQLAlchemy knows no database 'nosuchdb'"),
        (
            "mysql://u:secret@h/x",  # a dialect whose driver (MySQLdb) requirements.txt does not bring
            "database mysql://u:***@h/x: its driver, the Python module 'MySQLdb', is not installed",
        ),
    ],
)
def test_a_database_url_sqlalchemy_cannot_use_is_one_line_without_its_password(
    monkeypatch, capsys, url: str, expected: str
) -> None:
    """These were a traceback (ModuleNotFoundError) or a line that did not say which setting."""
    from webapp.db import DatabaseError, main, make_engine

    monkeypatch.setenv("MOVIEREC_DATABASE_URL", url)
    assert main(["upgrade"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1 and "secret" not in err
    with pytest.raises(DatabaseError):  # a RuntimeError: gunicorn prints its line and stops
        make_engine(url)
