"""Settings read from the environment: where `warroom serve` listens."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings


def test_serve_listens_on_loopback_only_while_teams_would_take_unauthenticated_requests() -> None:
    assert Settings.from_env({}).bind_host == "127.0.0.1"
    assert Settings.from_env({"MICROSOFT_APP_ID": "app", "MICROSOFT_APP_PASSWORD": "pw"}).bind_host == "0.0.0.0"
    assert Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}).bind_host == "0.0.0.0"
    assert Settings().bind_host == "127.0.0.1"


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "warroom.internal", "10.1.2.3"])
def test_host_says_where_to_listen_whatever_is_configured(host: str) -> None:
    assert Settings.from_env({"HOST": host}).bind_host == host
    assert Settings.from_env({"HOST": host, "SLACK_BOT_TOKEN": "xoxb-1"}).bind_host == host
    assert Settings.from_env({"HOST": host}).describe()["host"] == host


@pytest.mark.parametrize("host", ["0.0.0.0:3000", "http://warroom", "999.1.1.1", "two words", "-lead", "[::1]"])
def test_a_host_nothing_can_listen_on_is_refused_at_start(host: str) -> None:
    with pytest.raises(ConfigError, match="HOST must be an IP address or a host name"):
        Settings.from_env({"HOST": host})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "warroom.internal"])
def test_serve_refuses_to_listen_beyond_this_machine_when_nothing_authenticates_callers(host: str) -> None:
    for nothing in ({"HOST": host}, {"HOST": host, "SLACK_SIGNING_SECRET": "s", "MICROSOFT_APP_PASSWORD": "pw"}):
        with pytest.raises(ConfigError, match=f"HOST={host} listens beyond this machine but nothing authenticates"):
            Settings.from_env(nothing).check_exposure()


SIGN_IN = {
    "WARROOM_OIDC_ISSUER": "https://slack.com",
    "WARROOM_OIDC_CLIENT_ID": "id",
    "WARROOM_OIDC_CLIENT_SECRET": "secret",
    "WARROOM_WEB_SECRET": "x" * 44,
    "WARROOM_WEB_ALLOW": "@acme.example",
}


@pytest.mark.parametrize(
    "authenticates",
    [
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"},
        {"MICROSOFT_APP_ID": "app", "MICROSOFT_APP_PASSWORD": "pw"},
        SIGN_IN,
    ],
)
def test_serve_listens_everywhere_when_a_platform_or_the_dashboard_sign_in_authenticates(
    authenticates: dict[str, str],
) -> None:
    Settings.from_env({"HOST": "0.0.0.0", **authenticates}).check_exposure()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"])
def test_serve_on_this_machine_only_needs_nothing_to_authenticate(host: str) -> None:
    Settings.from_env({"HOST": host}).check_exposure()
    Settings.from_env({}).check_exposure()


def test_a_replica_name_and_a_drain_time_are_read_and_bad_ones_refused_in_one_line() -> None:
    settings = Settings.from_env({"WARROOM_REPLICA": "warroom-0", "WARROOM_DRAIN_SECONDS": "40"})
    assert (settings.replica, settings.drain) == ("warroom-0", 40.0)
    assert (Settings.from_env({}).replica, Settings.from_env({}).drain) == (None, 25.0)
    with pytest.raises(ConfigError, match="WARROOM_REPLICA must be 1 to 48 letters"):
        Settings.from_env({"WARROOM_REPLICA": "pod 0; rm"})
    with pytest.raises(ConfigError, match="WARROOM_DRAIN_SECONDS must be a whole number of seconds from 5 to 600"):
        Settings.from_env({"WARROOM_DRAIN_SECONDS": "2"})
