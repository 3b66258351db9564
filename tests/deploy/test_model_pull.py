"""deploy/model_pull.py: when a boot pulls the model, from which remote, and how it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundle.format import BundleError
from deploy.model_pull import (
    ModelPullError,
    configured_remote,
    pull_failure_reason,
    pull_if_configured,
)
from bundle.errors import ConfigError
from deploy.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]


def settings(**environ: str) -> ServerSettings:
    return ServerSettings.from_env(environ)


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, False),
        ({"DYNO": "web.1"}, True),
        ({"DYNO": "web.1", "PULL_MODEL": "0"}, False),
        ({"PULL_MODEL": "1"}, True),
        ({"PULL_MODEL": "true"}, True),
    ],
)
def test_the_model_is_pulled_on_a_dyno_unless_pull_model_says_otherwise(
    environ, expected
):
    assert settings(**environ).should_pull is expected


def test_outside_a_dyno_the_boot_pulls_nothing():
    assert pull_if_configured(settings(), ROOT) is None


def test_the_default_remote_is_the_repo_default_resolved_outside_the_work_tree():
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    name = config.get("core", "remote")
    relative = config.get(f"'remote \"{name}\"'", "url")
    remote = configured_remote(ROOT, settings())
    assert remote.name == name
    assert Path(remote.url) == (ROOT / ".dvc" / relative).resolve()
    assert not Path(remote.url).is_relative_to(ROOT)


def test_the_dvc_remote_url_config_var_overrides_the_repo_remote():
    remote = configured_remote(ROOT, settings(DVC_REMOTE_URL="s3://bucket/models"))
    assert remote.url == "s3://bucket/models"


def test_an_unknown_remote_name_is_refused_naming_it():
    with pytest.raises(ModelPullError, match="no DVC remote 'nope'"):
        configured_remote(ROOT, settings(DVC_REMOTE="nope"))


def test_a_missing_remote_directory_stops_the_boot_naming_the_remote(tmp_path):
    gone = tmp_path / "no-such-remote"
    with pytest.raises(BundleError) as err:
        pull_if_configured(settings(DYNO="web.1", DVC_REMOTE_URL=str(gone)), ROOT)
    message = str(err.value)
    assert f"DVC remote 'env' ({gone})" in message
    assert "no such directory" in message
    assert "\n" not in message


def test_a_model_missing_from_the_remote_is_explained_in_one_line():
    output = (
        "WARNING: Some of the cache files do not exist neither locally nor on remote. "
        "Missing cache files:\nmd5: 7eca0d96.dir\n"
        "ERROR: failed to pull data from the cloud - Checkout failed for following "
        "targets:\nmodel\nIs your cache up to date?\n"
    )
    reason = pull_failure_reason(output)
    assert "7eca0d96.dir" in reason and "make push" in reason


def test_other_dvc_failures_keep_dvc_s_own_error_line():
    output = "Collecting\nERROR: unexpected error - s3 requires 'dvc-s3'\n"
    assert (
        pull_failure_reason(output) == "ERROR: unexpected error - s3 requires 'dvc-s3'"
    )


def test_a_relative_local_remote_url_is_taken_from_the_app_root():
    remote = configured_remote(ROOT, settings(DVC_REMOTE_URL="../elsewhere"))
    assert Path(remote.url) == ROOT.parent / "elsewhere"


def test_a_password_in_the_remote_url_never_reaches_the_log(tmp_path):
    url = "ssh://deploy:s3cret@127.0.0.1:1/nowhere"
    env = settings(DYNO="web.1", DVC_REMOTE_URL=url, DVC_PULL_TIMEOUT="20")
    with pytest.raises(ModelPullError) as err:
        pull_if_configured(env, ROOT)
    assert "s3cret" not in str(err.value)
    assert "ssh://deploy:***@127.0.0.1:1/nowhere" in str(err.value)


def test_a_pull_timeout_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(ConfigError, match="DVC_PULL_TIMEOUT='soon'"):
        settings(DYNO="web.1", DVC_REMOTE_URL="/x", DVC_PULL_TIMEOUT="soon")
