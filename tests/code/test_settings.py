"""One list of settings: the typed Settings object, .env.example and the docs agree."""

from __future__ import annotations

import pytest

from service.settings import (
    ROOT,
    SETTINGS,
    ConfigError,
    Settings,
    env_example,
    markdown_table,
)


def test_env_example_is_generated_from_the_settings():
    assert (ROOT / ".env.example").read_text() == env_example()


def test_the_configuration_doc_lists_exactly_the_settings():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert markdown_table() in doc


def test_every_setting_has_a_distinct_variable_and_a_meaning():
    names = [env for env, _, _ in SETTINGS]
    assert len(names) == len(set(names))
    assert all(doc for _, _, doc in SETTINGS)


def test_defaults_need_no_environment_at_all():
    settings = Settings.from_env({})
    assert settings.bind == "127.0.0.1:8000"
    assert settings.should_pull is False
    assert settings.model_path == ROOT / "model"


@pytest.mark.parametrize(
    "environ, bind",
    [
        ({"DYNO": "web.1", "PORT": "5000"}, "0.0.0.0:5000"),
        ({"RENDER": "true", "PORT": "10000"}, "0.0.0.0:10000"),
        ({"RENDER": "true", "HOST": "127.0.0.1"}, "127.0.0.1:8000"),
        ({"PORT": "9000"}, "127.0.0.1:9000"),
    ],
)
def test_the_server_binds_every_interface_only_on_a_platform(environ, bind):
    assert Settings.from_env(environ).bind == bind


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"BATCH_LIMIT": "lots"}, "BATCH_LIMIT='lots' is not valid"),
        (
            {"BATCH_LIMIT": "0"},
            "BATCH_LIMIT='0' is not valid: expected a number above 0",
        ),
        ({"PORT": "http"}, "PORT='http' is not valid"),
        ({"PULL_MODEL": "sometimes"}, "PULL_MODEL='sometimes' is not valid"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not valid: expected one of json"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env(environ)
