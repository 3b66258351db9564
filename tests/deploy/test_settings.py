"""One list of settings: the typed app and server settings, .env.example and the docs
agree."""

from __future__ import annotations

from dataclasses import fields

import pytest

from bundle.errors import ConfigError
from bundle.paths import ROOT
from deploy.settings import SETTINGS, ServerSettings, env_example, markdown_table
from service.settings import Settings

# deploy/settings.py's own code, the same on every data set: not marked `platform`.
PLATFORM = False


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
    server = ServerSettings.from_env({})
    assert server.bind == "127.0.0.1:8000"
    assert server.should_pull is False
    assert Settings.from_env({}).model_path == ROOT / "model"


def test_the_list_holds_every_app_setting_then_every_server_setting():
    app = [env for env, _, _ in SETTINGS[: len(fields(Settings))]]
    server = [env for env, _, _ in SETTINGS[len(fields(Settings)) :]]
    assert app == [f.metadata["env"] for f in fields(Settings)]
    assert server == [f.metadata["env"] for f in fields(ServerSettings)]
    assert {"MODEL_DIR", "API_TOKEN"} <= set(app) and {"PORT", "DYNO"} <= set(server)


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
    assert ServerSettings.from_env(environ).bind == bind


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
    settings = ServerSettings if environ.keys() & {"PORT", "PULL_MODEL"} else Settings
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        settings.from_env(environ)
