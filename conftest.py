"""pytest's command-line option for the data set the suite runs on (root conftest: pytest
reads options only from here, before it collects tests/)."""


def pytest_addoption(parser):
    parser.addoption(
        "--params",
        default=None,
        help="the params file of the data set to test on (default: params.yaml)",
    )
