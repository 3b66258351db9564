"""The one error for a configuration the project cannot use (params.yaml, an environment
variable, a data set), shared by every package so each reports it the same way."""


class ConfigError(ValueError):
    """A configuration (params.yaml, an environment variable) or a data set the project
    cannot work with."""
