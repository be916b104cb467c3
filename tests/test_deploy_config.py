"""The public classroom server's settings (.streamlit/config.toml, issue 6) stay as deployed: no reloads,
XSRF protection, no tracebacks for visitors, an upload cap that fits the app's own caps and no more, and the
allowedHosts guidance for a named server. Tests see full errors through their own settings, checked here too."""

from __future__ import annotations

import tomllib
from pathlib import Path

from lora_core.config import MAX_CONFIG_BYTES
from lora_core.fit import MAX_UPLOAD_BYTES

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / ".streamlit" / "config.toml"
MIB = 2**20  # Streamlit's server.maxUploadSize is in MiB: maxUploadSize * 1024 * 1024 (starlette_routes.py)


def config() -> dict:
    return tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))


def test_server_is_headless_without_a_file_watcher():
    server = config()["server"]
    assert server["headless"] is True
    assert server["fileWatcherType"] == "none"  # no reload work with 30 students connected
    assert server["runOnSave"] is False


def test_xsrf_protection_is_on():
    assert config()["server"]["enableXsrfProtection"] is True


def test_visitors_see_no_traceback():
    assert config()["client"]["showErrorDetails"] == "none"


def test_upload_cap_fits_the_apps_caps_and_stays_small():
    cap_mib = config()["server"]["maxUploadSize"]
    assert cap_mib * MIB >= max(MAX_CONFIG_BYTES, MAX_UPLOAD_BYTES)  # every file the app accepts gets through
    assert cap_mib <= 8  # and a classroom server holds nothing bigger


def test_allowed_hosts_guidance_is_there():
    from streamlit import config as st_config

    assert "server.allowedHosts" in st_config.get_config_options()  # the commented option is a real one
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert "# allowedHosts = [" in text
    assert "docs/deploy.md" in text


def test_tests_see_full_errors(app_test):
    """AppTest (tests/conftest.py) turns details back on; the servers the browser tests and benchmarks start get
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=full from lora_ui.serve.started (tests/test_serve.py checks it)."""
    from streamlit import config as st_config

    st_config.set_option("client.showErrorDetails", "none")  # as .streamlit/config.toml sets it for visitors
    app_test(page="matrix")
    assert st_config.get_option("client.showErrorDetails") == "full"
