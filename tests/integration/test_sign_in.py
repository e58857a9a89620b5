"""Dashboard sign-in over real HTTP: OpenID Connect against a fake provider on port 0, encrypted session cookies,
CSRF tokens, and loopback-only when no sign-in is configured. A tiny route named ``dashboard.probe`` stands in for
the dashboard's pages."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from adapters.memory import InMemoryChat
from adapters.web.auth import COOKIE, _loopback, csrf_token, install, session_key
from bot.app import running, web_app
from bot.chat import Invocation, RoomRef, UserRef
from bot.clock import SimClock
from bot.config import ConfigError, Settings, WebSignIn
from tests.conftest import PLAYBOOKS, START
from tests.fake_oidc import (
    CLIENT_ID,
    SLACK_TEAM,
    TENANT,
    FakeOidc,
    fake_oidc,
    rsa_key,
    serving,
    sign_in_settings,
)

PATIENCE = aiohttp.ClientTimeout(total=15)


@dataclass
class Site:
    base: str
    changes: list[str] = field(default_factory=list)


def add_probe(application: web.Application, site: Site, *, home: str = "/") -> None:
    """Stand-ins for the dashboard's pages: one to look at, one that changes something (beside the real pages, the
    one to look at moves to ``home``)."""

    async def probe(request: web.Request) -> web.Response:
        viewer = request["viewer"]
        return web.json_response({"name": viewer.name, "email": viewer.email, "local": viewer.local,
                                  "csrf": csrf_token(request), "path": request.path_qs})  # fmt: skip

    async def act(request: web.Request) -> web.Response:
        site.changes.append(str((await request.post()).get("what", "")))
        return web.Response(text="done")

    application.router.add_get(home, probe, name="dashboard.probe")
    if home == "/":
        application.router.add_get("/incidents/{ref}", probe, name="dashboard.incident")
    application.router.add_post("/act", act, name="dashboard.act")


@asynccontextmanager
async def dashboard(config: WebSignIn | None, clock: SimClock, public_url: str | None = None) -> AsyncIterator[Site]:
    """The sign-in guard and the probe pages served on port 0."""
    application = web.Application()
    install(application, Settings(web=config, public_url=public_url), clock=clock)
    site = Site("")
    add_probe(application, site)
    async with serving(application) as base:
        site.base = base
        yield site


@asynccontextmanager
async def world(
    allow: tuple[str, ...] = ("@acme.example",), **bend: Any
) -> AsyncIterator[tuple[FakeOidc, Site, aiohttp.ClientSession, SimClock]]:
    """A fake provider, the dashboard signing in with it, and a browser-like client with a cookie jar."""
    clock = SimClock(START)
    async with (
        fake_oidc(FakeOidc(clock=clock, **bend)) as provider,
        dashboard(sign_in_settings(provider, allow), clock) as site,
        browser() as http,
    ):
        yield provider, site, http, clock


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=PATIENCE, cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies on 127.0.0.1


async def page(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.text(), response


async def signed_in(http: aiohttp.ClientSession, site: Site) -> dict[str, Any]:
    status, text, _ = await page(http, f"{site.base}/")
    assert status == 200, text
    return dict(json.loads(text))


async def still_signed_out(provider: FakeOidc, site: Site, http: aiohttp.ClientSession) -> None:
    """No session: the page sends the browser to the provider, and a change is refused."""
    status, _, response = await page(http, f"{site.base}/", allow_redirects=False)
    assert status == 302 and response.headers["Location"].startswith(f"{provider.base}/authorize?")
    async with http.post(f"{site.base}/act", data={"what": "x", "csrf_token": "anything"}) as answer:
        assert answer.status == 403
    assert site.changes == []


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_the_dashboard_sends_a_stranger_to_the_provider_and_the_whole_flow_signs_them_in(method: str) -> None:
    async with world(auth_methods=(method,)) as (provider, site, http, _clock):
        status, _, first = await page(http, f"{site.base}/", allow_redirects=False)
        assert status == 302
        authorize = urlsplit(first.headers["Location"])
        asked = {name: values[0] for name, values in parse_qs(authorize.query).items()}
        assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{provider.base}/authorize"
        assert asked["redirect_uri"] == f"{site.base}/auth/callback" and asked["scope"] == "openid email profile"
        assert asked["code_challenge_method"] == "S256" and asked["state"] and asked["nonce"]

        status, _, back = await page(http, first.headers["Location"], allow_redirects=False)
        assert status == 302 and back.headers["Location"].startswith(f"{site.base}/auth/callback?code=")
        status, _, landed = await page(http, back.headers["Location"], allow_redirects=False)
        assert status == 302 and landed.headers["Location"] == "/"
        cookie = landed.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        assert cookie["max-age"] == str(12 * 3600) and "sam@acme.example" not in cookie.value  # encrypted

        seen = await signed_in(http, site)
        assert (seen["name"], seen["email"], seen["local"]) == ("Sam <Ops> Lee", "sam@acme.example", False)
        sent = provider.token_requests[0]
        assert sent["code_verifier"] and ("client_secret" in sent) == (method == "client_secret_post")


async def test_after_signing_in_the_browser_lands_where_it_was_going_and_never_on_another_site() -> None:
    async with world() as (_provider, site, http, _clock):
        status, text, response = await page(http, f"{site.base}/incidents/inc-7?tab=asks")
        assert status == 200 and json.loads(text)["path"] == "/incidents/inc-7?tab=asks"
    async with world() as (_provider, site, http, _clock):
        status, text, response = await page(http, f"{site.base}/auth/sign-in?next=//evil.example/x")
        assert status == 200 and response.url == URL(f"{site.base}/")
    for sneaky in ("%2F%0B%2Fevil.example", "/x%0ASet-Cookie:%20a=b", "/x%09y", "/x%7F", "/caf%C3%A9"):
        async with world() as (_provider, site, http, _clock):
            status, text, response = await page(http, URL(f"{site.base}/auth/sign-in?next={sneaky}", encoded=True))
            assert status == 200 and response.url == URL(f"{site.base}/"), (sneaky, text)
            assert "a=b" not in str(response.cookies)


async def test_several_tabs_signing_in_at_once_each_finish() -> None:
    async with world() as (_provider, site, http, _clock):
        starts = []
        for path in ("/incidents/inc-1", "/incidents/inc-2", "/incidents/inc-3"):  # three tabs restored together
            status, _, response = await page(http, f"{site.base}{path}", allow_redirects=False)
            starts.append(response.headers["Location"])
        forged = await page(http, f"{site.base}/auth/callback?code=x&state=forged", allow_redirects=False)
        assert forged[0] == 403  # a link from elsewhere: refused, and it ends none of the sign-ins in progress
        callbacks = []
        for start in starts:
            status, _, response = await page(http, start, allow_redirects=False)
            callbacks.append(response.headers["Location"])
        status, text, first = await page(http, callbacks[0])  # the older sign-in, started before the other
        assert status == 200 and json.loads(text)["path"] == "/incidents/inc-1"
        status, text, second = await page(http, callbacks[1])  # already signed in: nothing more to do
        assert status == 200 and json.loads(text)["path"] == "/"
        status, text, _ = await page(http, callbacks[0])  # an answer replayed: used up, and the tab is signed in
        assert status == 200 and json.loads(text)["path"] == "/"


async def test_behind_a_proxy_the_public_url_makes_the_redirect_and_a_secure_cookie() -> None:
    clock = SimClock(START)
    public_url = "https://warroom.acme.example"
    async with (
        fake_oidc(FakeOidc(clock=clock)) as provider,
        dashboard(sign_in_settings(provider), clock, public_url=public_url) as site,
        browser() as http,
    ):
        status, _, response = await page(http, f"{site.base}/", allow_redirects=False)
    asked = parse_qs(urlsplit(response.headers["Location"]).query)
    assert status == 302 and asked["redirect_uri"] == ["https://warroom.acme.example/auth/callback"]
    assert response.cookies[COOKIE]["secure"] and response.cookies[COOKIE]["httponly"]


@pytest.mark.parametrize(
    ("allow", "user"),
    [
        (("entra:" + TENANT.upper(),), {}),
        (("slack:" + SLACK_TEAM,), {}),
        (("Sam@Acme.Example",), {}),
        (("@acme.example",), {"email_verified": "true"}),
    ],
    ids=["entra-tenant", "slack-team", "one-address", "email-domain"],
)
async def test_each_kind_of_allow_entry_lets_its_people_in(allow: tuple[str, ...], user: dict[str, Any]) -> None:
    async with world(allow=tuple(a.lower() if "@" in a else a for a in allow)) as (provider, site, http, _clock):
        provider.user |= user
        assert (await signed_in(http, site))["email"] == "sam@acme.example"


NOT_VERIFIED = "could not be verified"
NOT_ALLOWED = "is not allowed in"


def bend_claims(**claims: Any) -> Callable[[FakeOidc], None]:
    def bend(provider: FakeOidc) -> None:
        provider.overrides |= claims

    return bend


def bend_user(**claims: Any) -> Callable[[FakeOidc], None]:
    def bend(provider: FakeOidc) -> None:
        provider.user |= claims

    return bend


def sign_with(kid: str) -> Callable[[FakeOidc], None]:
    def bend(provider: FakeOidc) -> None:
        provider.signing_key = rsa_key(kid)

    return bend


def expired(provider: FakeOidc) -> None:
    now = int(provider.clock.now().timestamp())
    provider.overrides |= {"iat": now - 7200, "exp": now - 3600}


REFUSALS = {
    "another audience": (("@acme.example",), bend_claims(aud="some-other-app"), NOT_VERIFIED),
    "another audience, us as azp": (("@acme.example",), bend_claims(aud=["other"], azp=CLIENT_ID), NOT_VERIFIED),
    "another issuer": (("@acme.example",), bend_claims(iss="https://evil.example"), NOT_VERIFIED),
    "another tenant": (("entra:" + TENANT,), bend_user(tid="11111111-2222-3333-4444-555555555555"), NOT_ALLOWED),
    "another Slack team": (("slack:" + SLACK_TEAM,), bend_user(**{"https://slack.com/team_id": "T999"}), NOT_ALLOWED),
    "another email domain": (("@acme.example",), bend_user(email="sam@acme.example.evil.test"), NOT_ALLOWED),
    "an unverified email": (("@acme.example",), bend_user(email_verified=False), NOT_ALLOWED),
    "another key, same key id": (("@acme.example",), sign_with("key-1"), NOT_VERIFIED),
    "another key, unknown key id": (("@acme.example",), sign_with("key-2"), NOT_VERIFIED),
    "an expired token": (("@acme.example",), expired, NOT_VERIFIED),
    "a wrong nonce": (("@acme.example",), bend_claims(nonce="not-the-one-sent"), NOT_VERIFIED),
    "no nonce": (("@acme.example",), bend_claims(nonce=None), NOT_VERIFIED),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_a_bad_id_token_or_a_stranger_is_refused_and_gets_no_session(case: str) -> None:
    allow, bend, message = REFUSALS[case]
    async with world(allow=allow) as (provider, site, http, _clock):
        bend(provider)
        status, text, _ = await page(http, f"{site.base}/")
        assert status == 403 and message in text and "Sign in" in text
        assert len(provider.token_requests) == 1
        await still_signed_out(provider, site, http)


async def test_an_answer_with_the_wrong_state_is_refused_before_the_code_is_used() -> None:
    async with world() as (provider, site, http, _clock):
        provider.state = "forged-state"
        status, text, _ = await page(http, f"{site.base}/")
        assert status == 403 and "does not belong to the sign-in this browser started" in text
        assert provider.token_requests == []
        await still_signed_out(provider, site, http)
        async with browser() as stranger:  # a callback this browser never started
            status, text, _ = await page(stranger, f"{site.base}/auth/callback?code=stolen&state=guess")
        assert status == 400 and "not started in this browser" in text and provider.token_requests == []


async def test_a_person_who_says_no_at_the_provider_is_told_so_and_gets_no_session() -> None:
    async with world() as (provider, site, http, _clock):
        provider.error = "access_denied"
        status, text, _ = await page(http, f"{site.base}/")
        assert status == 403 and "The sign-in provider said no: access_denied" in text
        assert provider.token_requests == []
        await still_signed_out(provider, site, http)


async def test_a_forged_or_foreign_cookie_is_treated_as_signed_out_never_an_error() -> None:
    async with world() as (provider, site, http, clock):
        for forged in ("garbage", "gAAAAA" + "A" * 200, "", "💥"):
            http.cookie_jar.update_cookies({COOKIE: forged}, URL(site.base))
            await still_signed_out(provider, site, http)
        # A well-formed session sealed with another WARROOM_WEB_SECRET: someone who guessed the format, not the key.
        session = {"user": {"sub": "x", "name": "Mallory", "email": "m@acme.example"}, "until": 4e9}
        foreign = session_key("another-secret-" + "x" * 32).encrypt(
            json.dumps({"session": session, "created": int(time.time())}).encode()
        )
        http.cookie_jar.update_cookies({COOKIE: foreign.decode()}, URL(site.base))
        await still_signed_out(provider, site, http)


async def test_a_session_ends_after_12_hours_on_the_server_even_if_the_old_cookie_is_replayed() -> None:
    async with world() as (provider, site, http, clock):
        await signed_in(http, site)
        old = next(c.value for c in http.cookie_jar if c.key == COOKIE)
        clock.advance(timedelta(hours=11, minutes=59))
        await signed_in(http, site)
        clock.advance(timedelta(minutes=1))
        await still_signed_out(provider, site, http)
        http.cookie_jar.update_cookies({COOKIE: old}, URL(site.base))
        await still_signed_out(provider, site, http)


async def test_a_change_without_the_right_csrf_token_is_refused_and_changes_nothing() -> None:
    async with world() as (provider, site, http, _clock):
        token = (await signed_in(http, site))["csrf"]
        async with world() as (_, other_site, other_http, _):
            other_token = (await signed_in(other_http, other_site))["csrf"]
        attempts: list[dict[str, Any]] = [
            {"data": {"what": "no token"}},
            {"data": {"what": "wrong token", "csrf_token": "wrong"}},
            {"data": {"what": "another session's token", "csrf_token": other_token}},
            {"data": {"what": "wrong header"}, "headers": {"X-CSRF-Token": token[:-1]}},
            {"json": {"what": "json", "csrf_token": token}},  # only a form field or the header carries it
        ]
        for attempt in attempts:
            async with http.post(f"{site.base}/act", **attempt) as response:
                assert response.status == 403, attempt
                assert "did not come from the dashboard" in await response.text()
        assert site.changes == []
        async with http.post(f"{site.base}/act", data={"what": "form", "csrf_token": token}) as response:
            assert response.status == 200
        form = aiohttp.FormData({"what": "multipart", "csrf_token": token})
        form.add_field("file", b"x", filename="x.txt")
        async with http.post(f"{site.base}/act", data=form) as response:
            assert response.status == 200
        async with http.post(f"{site.base}/act", data={"what": "header"}, headers={"X-CSRF-Token": token}) as response:
            assert response.status == 200
        assert site.changes == ["form", "multipart", "header"]


async def test_signing_out_needs_the_csrf_token_and_clears_the_session() -> None:
    async with world() as (provider, site, http, _clock):
        token = (await signed_in(http, site))["csrf"]
        async with http.post(f"{site.base}/auth/sign-out") as response:
            assert response.status == 403
        await signed_in(http, site)
        async with http.post(f"{site.base}/auth/sign-out", data={"csrf_token": token}) as response:
            assert response.status == 200 and "You are signed out" in await response.text()
        await still_signed_out(provider, site, http)


async def test_a_provider_that_does_not_answer_gives_a_clear_page_not_a_crash(tmp_path: Path) -> None:
    clock = SimClock(START)
    async with fake_oidc(FakeOidc(clock=clock)) as provider:
        config = sign_in_settings(provider)
    async with dashboard(config, clock) as site, browser() as http:  # the provider has stopped listening
        status, text, _ = await page(http, f"{site.base}/")
        assert status == 502 and "did not answer" in text


@asynccontextmanager
async def local_dashboard(tmp_path: Path) -> AsyncIterator[Site]:
    """The real web_app of a deployment with no sign-in configured (the real overview at /), plus the probe pages."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", playbooks_dir=PLAYBOOKS)
    clock = SimClock(START)
    async with running(settings, chat=InMemoryChat(), clock=clock) as app:
        application = web_app(app, clock=clock)
        site = Site("")
        add_probe(application, site, home="/probe")
        async with serving(application) as base:
            site.base = base
            yield site


async def test_without_sign_in_only_this_machine_gets_in_and_never_through_a_proxy(tmp_path: Path) -> None:
    async with local_dashboard(tmp_path) as site, browser() as http:
        status, text, _ = await page(http, f"{site.base}/probe")
        assert status == 200, text
        seen = json.loads(text)
        assert seen["local"] is True
        status, text, _ = await page(http, f"{site.base}/")
        assert status == 200 and "this machine only" in text  # the real overview, in local mode
        for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}, {"X-Real-IP": "1.2.3.4"}):
            status, text, _ = await page(http, f"{site.base}/", headers=headers)
            assert status == 403 and "Sign-in is not configured" in text and "proxy" in text
        status, text, _ = await page(http, f"{site.base}/", headers={"Host": "warroom.evil.example"})
        assert status == 403 and "Sign-in is not configured" in text
        status, _, _ = await page(http, f"{site.base}/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        assert status == 200  # not the dashboard's: the probes answer whoever asks
        status, text, _ = await page(http, f"{site.base}/auth/sign-in")
        assert status == 404 and "not configured" in text
        async with http.post(f"{site.base}/act", data={"what": "no token"}) as response:
            assert response.status == 403
        async with http.post(f"{site.base}/act", data={"what": "ok", "csrf_token": seen["csrf"]}) as response:
            assert response.status == 200
        async with http.post(
            f"{site.base}/act", data={"what": "proxied", "csrf_token": seen["csrf"]}, headers={"Forwarded": "for=x"}
        ) as response:
            assert response.status == 403
        assert site.changes == ["ok"]


def test_loopback_addresses_are_recognised_and_others_are_not() -> None:
    assert all(_loopback(a) for a in ("127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1"))
    assert not any(_loopback(a) for a in ("10.0.0.5", "192.168.1.2", "::ffff:10.0.0.1", "fe80::1", "", "localhost"))


BASE_ENV = {
    "WARROOM_OIDC_ISSUER": "https://slack.com",
    "WARROOM_OIDC_CLIENT_ID": "123.456",
    "WARROOM_OIDC_CLIENT_SECRET": "shh",
    "WARROOM_WEB_SECRET": "k" * 44,
    "WARROOM_WEB_ALLOW": "slack:T0123ACME, @Acme.example entra:" + TENANT,
}


def test_the_sign_in_settings_are_read_and_their_secrets_never_shown() -> None:
    settings = Settings.from_env(BASE_ENV | {"WARROOM_PUBLIC_URL": "https://warroom.acme.example/"})
    assert settings.web == WebSignIn(
        issuer="https://slack.com",
        client_id="123.456",
        client_secret="shh",
        secret="k" * 44,
        allow=("slack:T0123ACME", "@acme.example", "entra:" + TENANT),
    )
    assert settings.public_url == "https://warroom.acme.example"
    assert "shh" not in str(settings.describe()) and "k" * 44 not in str(settings.describe())
    assert Settings.from_env({}).web is None


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"WARROOM_WEB_SECRET": ""}, "set WARROOM_WEB_SECRET too"),
        ({"WARROOM_WEB_ALLOW": ""}, "set WARROOM_WEB_ALLOW too"),
        ({"WARROOM_WEB_SECRET": "short"}, "at least 32 characters"),
        ({"WARROOM_WEB_ALLOW": "everyone"}, "'everyone' is not @domain"),
        ({"WARROOM_OIDC_ISSUER": "http://login.example"}, "must start https://"),
        ({"WARROOM_OIDC_ISSUER": "slack.com"}, "must be a URL"),
        ({"WARROOM_PUBLIC_URL": "https://warroom.example/sub"}, "origin with no path"),
        ({"WARROOM_OIDC_ISSUER": ""}, "set WARROOM_OIDC_ISSUER too"),
    ],
)
def test_incomplete_or_wrong_sign_in_settings_are_one_line_errors(change: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(BASE_ENV | change)
    assert complaint in str(caught.value) and "\n" not in str(caught.value)


def test_an_http_issuer_is_only_for_this_machine() -> None:
    web_sign_in = Settings.from_env(BASE_ENV | {"WARROOM_OIDC_ISSUER": "http://127.0.0.1:8080/"}).web
    assert web_sign_in is not None and replace(web_sign_in, issuer="x").issuer == "x"
    assert web_sign_in.issuer == "http://127.0.0.1:8080"


@asynccontextmanager
async def real_dashboard(
    tmp_path: Path, allow: tuple[str, ...]
) -> AsyncIterator[tuple[Site, aiohttp.ClientSession, Any]]:
    """The real web_app with sign-in through a fake provider (who signs in: sam@acme.example), and its core."""
    clock = SimClock(START)
    async with fake_oidc(FakeOidc(clock=clock)) as provider:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'w.db'}",
            playbooks_dir=PLAYBOOKS,
            web=sign_in_settings(provider, allow),
        )
        async with (
            running(settings, chat=InMemoryChat(), clock=clock) as app,
            serving(web_app(app, clock=clock)) as base,
            browser() as http,
        ):
            yield Site(base), http, app


async def test_private_incidents_show_on_the_dashboard_only_to_people_the_allow_list_names(tmp_path: Path) -> None:
    for allow, sees in ((("@acme.example",), False), (("@acme.example", "Sam@Acme.example"), True)):
        (tmp_path / str(sees)).mkdir()
        async with real_dashboard(tmp_path / str(sees), allow) as (site, http, app):
            dana, lobby = UserRef("dana", "dana"), RoomRef("C-LOBBY", "general")
            for text in (
                'open "Globex disputes the Q3 invoice" playbook:billing-dispute customer:"Globex"',
                'open "Router dead on arrival" customer:"Acme Retail" playbook:default',
            ):
                assert (await app.warroom.handle(Invocation(text, dana, lobby))).ok
            status, overview, _ = await page(http, f"{site.base}/")
            assert status == 200 and "Acme Retail" in overview
            assert ("Globex" in overview) is sees
            status, incident, _ = await page(http, f"{site.base}/incidents/1")
            summary, _, _ = await page(http, f"{site.base}/incidents/1/summary")
            if sees:
                assert (status, summary) == (200, 200) and "Globex" in incident
            else:  # the very page a number nobody opened gets
                missing, nobody, _ = await page(http, f"{site.base}/incidents/99")
                assert (status, summary, missing) == (404, 404, 404) and "Globex" not in incident
                assert incident == nobody.replace("INC-99", "INC-1")
            assert (await page(http, f"{site.base}/incidents/2"))[0] == 200
