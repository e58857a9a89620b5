"""The edge's rules without a server: where a URL leads in any spelling, what a log line may hold, who the allow
list admits, and which webhook secrets and targets the settings take."""

from __future__ import annotations

import logging

import pytest

from bot.addresses import is_loopback_url, why_host_private
from bot.config import ConfigError, Settings, email_allowed
from bot.logs import install, redact
from bot.nesting import deeper_than
from bot.webhooks import SubscriptionError, check_url, masked_url

SECRET = "0123456789abcdef0123456789abcdef"

PRIVATE = [
    "127.0.0.1:5432",
    "[::1]",
    "0x7f000001",
    "2130706433",
    "017700000001",
    "127.1",
    "0.0.0.0",
    "0",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[2002:7f00:1::1]",
    "169.254.169.254",
    "[fe80::1]",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "100.64.0.1",
    "[fc00::1]",
    "[fd12:3456::1]",
    "localhost",
    "LOCALHOST.",
    "app.localhost",
    "printer.local",
    "intranet",
]


@pytest.mark.parametrize("host", PRIVATE)
def test_a_webhook_to_this_machine_or_network_is_refused_in_any_spelling(host: str) -> None:
    with pytest.raises(SubscriptionError) as caught:
        check_url(f"http://{host}/hook")
    assert "not the internet" in str(caught.value) and "--allow-private" in str(caught.value)
    assert check_url(f"http://{host}/hook", allow_private=True) == f"http://{host}/hook"


@pytest.mark.parametrize("host", ["hooks.example", "93.184.216.34", "[2606:2800:220:1:248:1893:25c8:1946]", "8.8.8.8"])
def test_a_webhook_to_the_internet_is_taken(host: str) -> None:
    assert why_host_private(host.strip("[]")) is None
    assert check_url(f"https://{host}/hook") == f"https://{host}/hook"


def test_loopback_urls_are_told_apart_from_others() -> None:
    for url in (
        "http://127.0.0.1:3978/",
        "http://localhost/",
        "http://[::1]:80/",
        "http://0x7f000001/",
        "http://127.1",
    ):
        assert is_loopback_url(url), url
    for url in ("https://smba.trafficmanager.net/emea/", "http://10.0.0.1/", "http://127.0.0.1.evil.example/", "x"):
        assert not is_loopback_url(url), url


def test_the_settings_refuse_private_webhooks_and_weak_secrets_in_one_line() -> None:
    def settings(**env: str) -> Settings:
        return Settings.from_env(env)

    refusals = {
        "short": settings_error(WARROOM_WEBHOOK_SECRET="short"),
        "repeated": settings_error(WARROOM_WEBHOOK_SECRET="ab" * 20),
        "entry": settings_error(WARROOM_WEBHOOKS="https://h.example/x secret=x", WARROOM_WEBHOOK_SECRET=SECRET),
        "private": settings_error(WARROOM_WEBHOOKS="http://0x7f000001/x", WARROOM_WEBHOOK_SECRET=SECRET),
        "switch": settings_error(WARROOM_WEBHOOKS_ALLOW_PRIVATE="maybe"),
    }
    assert refusals["short"].startswith("WARROOM_WEBHOOK_SECRET must be at least 32 characters")
    assert refusals["repeated"].startswith("WARROOM_WEBHOOK_SECRET is not random enough")
    assert refusals["entry"].startswith("WARROOM_WEBHOOKS: the secret= of 'https://h.example/x' must be at least 32")
    assert "goes to a loopback address" in refusals["private"]
    assert refusals["switch"] == "WARROOM_WEBHOOKS_ALLOW_PRIVATE must be 1 or 0, not 'maybe'"
    assert all("\n" not in r and "short" not in r.split(" must")[1:] for r in refusals.values())
    allowed = settings(
        WARROOM_WEBHOOKS="http://127.0.0.1:9000/hook", WARROOM_WEBHOOK_SECRET=SECRET, WARROOM_WEBHOOKS_ALLOW_PRIVATE="1"
    )
    assert allowed.webhooks_allow_private and allowed.webhooks[0].url == "http://127.0.0.1:9000/hook"


def settings_error(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_listed_urls_mask_credentials_and_query_strings() -> None:
    assert masked_url("https://user:pass@hooks.example:8443/in?token=abc#x") == "https://***@hooks.example:8443/in?***"
    assert masked_url("https://hooks.example/in") == "https://hooks.example/in"
    assert masked_url("http://[2001:db8::1]/in?a=1") == "http://[2001:db8::1]/in?***"


@pytest.mark.parametrize(
    ("entry", "email", "admitted"),
    [
        ("@acme.example", "sam@acme.example", True),
        ("@acme.example", "a@evil.com@acme.example", False),
        ("@acme.example", "sam@eu.acme.example", False),
        ("@acme.example", "sam@evilacme.example", False),
        ("@acme.example", "Sam <sam@acme.example>", False),
        ("@acme.example", "sam@acme.example, x@evil.example", False),
        ("@*.acme.example", "sam@eu.acme.example", True),
        ("@*.acme.example", "sam@acme.example", False),
        ("@*.acme.example", "sam@evil-acme.example", False),
        ("sam@acme.example", "sam@acme.example", True),
        ("sam@acme.example", "kim@acme.example", False),
    ],
)
def test_the_allow_list_matches_the_parsed_address_domain_exactly(entry: str, email: str, admitted: bool) -> None:
    assert email_allowed(entry, email) is admitted


def test_allow_entries_are_checked_when_read() -> None:
    base = {
        "WARROOM_OIDC_ISSUER": "https://id.example",
        "WARROOM_OIDC_CLIENT_ID": "c",
        "WARROOM_OIDC_CLIENT_SECRET": "s",
        "WARROOM_WEB_SECRET": "x" * 40,
    }
    web = Settings.from_env(base | {"WARROOM_WEB_ALLOW": "@Acme.Example @*.Corp.Example Sam@Acme.Example"}).web
    assert web is not None and web.allow == ("@acme.example", "@*.corp.example", "sam@acme.example")
    for bad in ("a@evil.com@acme.example", "@*", "@acme", "everyone", "Sam <sam@acme.example>"):
        assert "is not @domain, @*.domain, name@domain" in settings_error(**base, WARROOM_WEB_ALLOW=bad), bad


MALFORMED_LINE = "b'Host: x\\nAuthorization: Bearer wr_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (MALFORMED_LINE, "wr_abcdefghijklmnopqrstuvwxyz"),
        ('"GET /live?token=qwerty123456&x=1 HTTP/1.1" 200', "qwerty123456"),
        ("{'Cookie': 'warroom_session=gAAAAAsessiondata', 'Host': 'h'}", "gAAAAAsessiondata"),
        ("X-Slack-Signature: v0=" + "ab12" * 16, "ab12ab12"),
        ("posting to https://user:pa55word@hooks.example/x", "pa55word"),
        ("GET /auth/callback?code=onetimecode&state=statevalue", "onetimecode"),
        ("using xoxb-1234-5678-abcdefghij", "xoxb-1234"),
        ("secret whsec_0123456789abcdef", "0123456789abcdef"),
        ("id token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "eyJzdWIiOiIxMjMifQ"),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ],
)
def test_redaction_hides_credentials_and_keeps_the_rest(line: str, secret: str) -> None:
    shown = redact(line)
    assert secret not in shown and "[redacted]" in shown
    for prose in ("exit code=2, state=pending, 3 basic checks", "the HTTP API: bearer tokens (kept hashed)"):
        assert redact(prose) == prose


def test_a_record_from_any_library_is_redacted_before_a_handler_sees_it(caplog: pytest.LogCaptureFixture) -> None:
    install()
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("sent %s", {"Authorization": "Bearer abcdef123456789"})
    try:
        raise ValueError("bad header: Authorization: Bearer zyxwvu987654321")
    except ValueError:
        logging.getLogger("other").exception("failed")
    assert "abcdef123456789" not in caplog.text and "zyxwvu987654321" not in caplog.text
    assert "sent {'Authorization': '[redacted]'}" in caplog.text and "ValueError" in caplog.text


def test_nesting_is_measured_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert deeper_than(deep) and deeper_than({"a": [{"b": [[1]]}]}, limit=4)
    assert not deeper_than({"a": [{"b": [1]}]}, limit=4) and not deeper_than("text")
