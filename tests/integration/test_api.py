"""/api/v1 over real HTTP on port 0: tokens, opening from an alert (with its war room), commands, refusals."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from adapters.memory import InMemoryChat
from adapters.web.models import OpenIncident as OpenIncidentBody
from bot.app import App, running
from bot.chat import Capability, ChatPort
from bot.cli import main
from bot.clock import SimClock
from bot.config import Settings
from bot.errors import ChatError
from bot.store.tables import ApiRequestRow, EventRow, IncidentRow
from bot.tokens import Scope, new_token, token_hash
from tests.conftest import PLAYBOOKS, ROOT, START
from tests.integration.test_serve import PATIENCE, serve_on_port_0, warroom_serve

FORM = "application/x-www-form-urlencoded"  # what curl -d says without -H 'Content-Type: application/json'
ALERT = {"title": "POS freeze", "severity": 1, "customer": "Acme"}


@dataclass
class Served:
    app: App
    base: str
    http: aiohttp.ClientSession
    clock: SimClock

    async def token(self, name: str, scope: str) -> str:
        secret = new_token()
        async with self.app.db.transaction() as store:
            await store.add_token(name, Scope(scope), token_hash(secret), now=self.clock.now())
        return secret

    async def call(
        self, method: str, path: str, token: str | None = None, *, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:
            text = await response.text()
            kind = response.content_type
            parsed = json.loads(text) if kind.endswith("json") else text
            if response.status >= 400:
                assert kind == "application/problem+json", (response.status, text)
                assert set(parsed) >= {"type", "title", "status", "detail"} and parsed["status"] == response.status
                assert "\n" not in parsed["detail"]
            return response.status, parsed, response.headers

    async def counts(self) -> tuple[int, int, int]:
        async with self.app.db.read() as store:
            s = store.session
            return (
                (await s.execute(select(func.count()).select_from(IncidentRow))).scalar_one(),
                (await s.execute(select(func.count()).select_from(EventRow))).scalar_one(),
                (await s.execute(select(func.count()).select_from(ApiRequestRow))).scalar_one(),
            )


@asynccontextmanager
async def served(database_url: str, chat: ChatPort | None = None) -> AsyncIterator[Served]:
    settings = Settings(database_url=database_url, playbooks_dir=PLAYBOOKS)
    clock = SimClock(START)
    async with running(settings, chat=chat or InMemoryChat(), clock=clock) as app:
        runner, base = await serve_on_port_0(app)
        try:
            async with aiohttp.ClientSession(timeout=PATIENCE) as http:
                yield Served(app, base, http, clock)
        finally:
            await runner.cleanup()


async def test_an_alert_opens_one_incident_with_its_war_room_however_often_it_is_retried(database_url: str) -> None:
    chat = InMemoryChat()
    async with served(database_url, chat) as s:
        write = await s.token("pagerduty", "write")
        key = {"Idempotency-Key": "alert-7781"}
        status, first, headers = await s.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key)
        assert status == 201 and headers["Location"] == "/api/v1/incidents/1"
        assert (first["ref"], first["title"], first["severity"], first["customer"]) == (
            "INC-1",
            "POS freeze",
            1,
            "Acme",
        )
        [room] = [r for r in chat.rooms.values() if r.ref.name.startswith("inc-1")]
        assert "INC-1" in chat.posts_in(room.ref)[0].text  # the kickoff card is in the war room
        assert {r["role"] for r in first["roles"]} >= {"commander"}

        status, again, headers = await s.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key)
        assert status == 200 and again["number"] == 1 and headers["Location"] == "/api/v1/incidents/1"
        assert (await s.counts())[0] == 1 and len(
            [r for r in chat.rooms.values() if r.ref.name.startswith("inc-")]
        ) == 1

        other = dict(ALERT, severity=2)
        status, problem, _ = await s.call("POST", "/api/v1/incidents", write, body=other, headers=key)
        assert status == 422 and "different request" in problem["detail"]
        status, second, _ = await s.call("POST", "/api/v1/incidents", write, body=ALERT)  # no key: a new one
        assert status == 201 and second["ref"] == "INC-2"


async def test_tokens_no_token_a_read_token_writing_and_a_revoked_token(database_url: str) -> None:
    async with served(database_url) as s:
        write, read = await s.token("alerts", "write"), await s.token("dashboard", "read")
        status, problem, headers = await s.call("GET", "/api/v1/incidents")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        status, _, headers = await s.call("GET", "/api/v1/incidents", "wr_" + "x" * 43)
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
        status, _, headers = await s.call("GET", "/api/v1/incidents", read)
        assert status == 200 and headers["Cache-Control"] == "no-store"
        status, problem, _ = await s.call("POST", "/api/v1/incidents", read, body=ALERT)
        assert status == 403 and "read" in problem["detail"]
        assert (await s.counts())[0] == 0
        assert (await s.call("GET", "/api/v1/incidents", write))[0] == 200
        async with s.app.db.transaction() as store:
            await store.revoke_token("alerts", now=s.clock.now())
        status, problem, _ = await s.call("POST", "/api/v1/incidents", write, body=ALERT)
        assert status == 401 and problem["detail"] == "this token was revoked" and "alerts" not in str(problem)
        assert (await s.counts())[0] == 0
        async with s.app.db.read() as store:
            used = {t.name: t.last_used_at for t in await store.api_tokens()}
        assert used == {"alerts": START, "dashboard": START}


async def test_bad_input_is_a_problem_document_and_changes_nothing(database_url: str) -> None:
    async with served(database_url) as s:
        write = await s.token("alerts", "write")
        await s.call("POST", "/api/v1/incidents", write, body=ALERT)
        before = await s.counts()
        post = "/api/v1/incidents"
        cases: list[tuple[int, str, dict[str, Any]]] = [
            (422, "surprise: is not a field", {"body": dict(ALERT, surprise=1)}),
            (422, "severity: Input should be less than or equal to 4", {"body": dict(ALERT, severity=9)}),
            (422, "title: Field required", {"body": {"severity": 1}}),
            (400, "not valid JSON", {"data": b'{"title": "POS', "headers": {"Content-Type": "application/json"}}),
            (400, "not valid JSON", {"data": b'{"title": NaN}', "headers": {"Content-Type": "application/json"}}),
            (415, "application/json", {"data": b"title=POS", "headers": {"Content-Type": "text/plain"}}),
            (400, "not valid JSON", {"data": b"title=POS", "headers": {"Content-Type": FORM}}),
            (400, "nests too deeply", {"data": b"[" * 60000, "headers": {"Content-Type": "application/json"}}),
            (
                413,
                "limit",
                {"data": b"{" + b" " * (2 * 1024 * 1024) + b"}", "headers": {"Content-Type": "application/json"}},
            ),
            (422, "mentions", {"body": dict(ALERT, title="POS @channel")}),
        ]
        for status, detail, kwargs in cases:
            got, problem, _ = await s.call("POST", post, write, **kwargs)
            assert (got, detail in problem["detail"]) == (status, True), problem
        assert (await s.call("GET", "/api/v1/incidents/99", write))[0] == 404
        assert (await s.call("GET", "/api/v1/incidents/99999999999", write))[0] == 404
        assert (await s.call("POST", "/api/v1/incidents/99/commands", write, body={"text": "note hi"}))[0] == 404
        assert (await s.call("GET", "/api/v1/incidents?severity=9", write))[0] == 400
        assert (await s.call("GET", "/api/v1/incidents?colour=red", write))[0] == 400
        status, _, headers = await s.call("DELETE", "/api/v1/incidents/1", write)
        assert status == 405 and headers["Allow"] == "GET"
        assert (await s.call("GET", "/api/v1/nothing-here", write))[0] == 404
        assert await s.counts() == before


async def test_json_sent_the_way_curl_d_labels_it_opens_the_incident(database_url: str) -> None:
    """`curl -X POST … -d '{"title": …}'` without a Content-Type header says the body is a form: it is read as JSON."""
    async with served(database_url) as s:
        write = await s.token("alerts", "write")
        status, body, _ = await s.call(
            "POST", "/api/v1/incidents", write, data=json.dumps(ALERT).encode(), headers={"Content-Type": FORM}
        )
        assert status == 201 and body["ref"] == "INC-1" and body["title"] == "POS freeze"


async def test_a_command_retried_with_its_idempotency_key_runs_once_and_gets_the_same_reply(
    database_url: str,
) -> None:
    async with served(database_url) as s:
        write = await s.token("alerts", "write")
        await s.call("POST", "/api/v1/incidents", write, body=ALERT)
        path, key = "/api/v1/incidents/1/commands", {"Idempotency-Key": "note-7"}
        note = {"text": 'note "store 12 back on the old firmware"'}
        first, reply, _ = await s.call("POST", path, write, body=note, headers=key)
        again, replayed, headers = await s.call("POST", path, write, body=note, headers=key)
        assert (first, again) == (200, 200) and replayed == reply and headers["Idempotent-Replayed"] == "true"
        status, problem, _ = await s.call("POST", path, write, body={"text": "note something else"}, headers=key)
        assert status == 422 and "used for a different request" in problem["detail"]
        refused = {"Idempotency-Key": "note-8"}
        assert (await s.call("POST", path, write, body={"text": "vendor heard V9 hi"}, headers=refused))[0] == 422
        status, _, _ = await s.call("POST", path, write, body={"text": "note the key was free again"}, headers=refused)
        assert status == 200  # a refused command recorded nothing, so its key could be used again
        async with s.app.db.read() as store:
            notes = [e.text for e in await store.timeline(1) if e.kind.value == "note"]
        assert notes == ["store 12 back on the old firmware", "the key was free again"]


async def test_commands_follow_ups_and_the_summary(database_url: str) -> None:
    async with served(database_url) as s:
        write = await s.token("alerts", "write")
        await s.call("POST", "/api/v1/incidents", write, body=dict(ALERT, playbook="hardware-rma"))
        ask = 'vendor northwind "tracking number for the replacement unit" due:1h ref:RMA-4471'
        status, reply, _ = await s.call("POST", "/api/v1/incidents/1/commands", write, body={"text": ask})
        assert status == 200 and reply["ok"]
        assert reply["text"].startswith(
            "INC-1: V1 asked Northwind Distribution for tracking number for the replacement unit"
        )
        status, problem, _ = await s.call("POST", "/api/v1/incidents/1/commands", write, body={"text": "sev 7"})
        assert status == 422 and problem["detail"].startswith("severity must be 1 (worst) to 4")
        status, problem, _ = await s.call("POST", "/api/v1/incidents/1/commands", write, body={"text": "status INC-2"})
        assert status == 422 and "INC-1" in problem["detail"]
        assert (await s.call("GET", "/api/v1/follow-ups?state=overdue", write))[1]["items"] == []
        s.clock.advance(timedelta(hours=2))
        status, overdue, _ = await s.call("GET", "/api/v1/follow-ups?state=overdue", write)
        assert [(f["incident"], f["ref"], f["vendor"], f["overdue"]) for f in overdue["items"]] == [
            (1, "V1", "Northwind Distribution", True)
        ]
        status, markdown, _ = await s.call("GET", "/api/v1/incidents/1/summary", write)
        assert status == 200 and markdown.startswith("> Draft: INC-1 is not closed yet.")
        status, data, _ = await s.call("GET", "/api/v1/incidents/1/summary?format=json", write)
        assert data["draft"] is True and data["incident"] == "INC-1"
        status, timeline, _ = await s.call("GET", "/api/v1/incidents/1/timeline", write)
        assert timeline["items"][0]["kind"] == "opened" and timeline["items"][0]["actor"] == "alerts"


@pytest.mark.parametrize("scope", ["read", "write"])
def test_token_commands(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scope: str
) -> None:
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("WARROOM_PLAYBOOKS", str(PLAYBOOKS))
    assert main(["token", "create", "grafana", "--scope", scope]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("wr_") and len(out.strip()) == 46 and "shown only now" in err
    assert main(["token", "create", "grafana"]) == 2
    assert "already a token named grafana" in capsys.readouterr().err
    assert main(["token", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split()[:2] == ["grafana", scope] and listed[1].endswith("-")
    assert main(["token", "revoke", "grafana"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["token", "list"]) == 0
    assert not capsys.readouterr().out.splitlines()[1].endswith(" -")
    assert main(["token", "revoke", "nobody"]) == 2


async def test_an_alert_opens_a_real_slack_channel_and_invites_the_responders_not_the_token(tmp_path: Any) -> None:
    from adapters.slack.chat import SlackChat, web_client
    from tests.adapters.fake_slack import BOT_TOKEN, FakeSlack, user_id

    fake = FakeSlack()
    api = await fake.start()
    slack = SlackChat(web_client(BOT_TOKEN, api), post_interval=0.0)
    try:
        async with served(f"sqlite:///{tmp_path / 'w.db'}", slack) as s:
            write = await s.token("alerts", "write")
            alert = dict(ALERT, playbook="default", impact="no sales in any store")
            status, opened, _ = await s.call("POST", "/api/v1/incidents", write, body=alert)
            assert status == 201
            channel = fake.channel_named("inc-1-pos-freeze")
            assert user_id("csm-lead") in channel.members and user_id("support-duty") in channel.members
            invited = [u for call in fake.called("conversations.invite") for u in str(call.args["users"]).split(",")]
            assert invited and not [u for u in invited if u.startswith("api:")]
            assert not [m for m in channel.messages.values() if "not in the room yet" in json.dumps(m)]
            assert opened["chat_link"] == f"https://slack.com/app_redirect?channel={channel.id}"
    finally:
        await slack.close()
        await fake.close()


async def test_a_body_sent_without_a_length_is_cut_off_at_the_limit(tmp_path: Any) -> None:
    async with served(f"sqlite:///{tmp_path / 'w.db'}") as s:
        write = await s.token("alerts", "write")

        async def two_megabytes() -> AsyncIterator[bytes]:  # sent chunked: no Content-Length to refuse it by
            yield b'{"title": "'
            for _ in range(128):
                yield b"x" * (16 * 1024)
            yield b'"}'

        headers = {"Authorization": f"Bearer {write}", "Content-Type": "application/json"}
        async with s.http.post(s.base + "/api/v1/incidents", data=two_megabytes(), headers=headers) as response:
            assert response.status == 413 and response.content_type == "application/problem+json"
            assert "limit" in (await response.json())["detail"]
        assert (await s.counts())[0] == 0


async def test_two_replicas_given_the_same_key_at_once_open_one_incident(database_url: str) -> None:
    async with served(database_url) as one, served(database_url) as two:
        write = await one.token("alerts", "write")
        key = {"Idempotency-Key": "alert-1"}
        answers = await asyncio.gather(
            one.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key),
            two.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key),
        )
        statuses = sorted(status for status, _body, _headers in answers)
        assert statuses in ([200, 201], [201, 409])  # the loser waits for the winner's row, or finds it in flight
        assert (await one.counts())[0] == 1
        status, again, _ = await two.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key)
        assert (status, again["ref"]) == (200, "INC-1")


async def test_a_key_whose_first_request_is_in_flight_or_died_midway_opens_nothing(database_url: str) -> None:
    async with served(database_url) as s:
        write = await s.token("alerts", "write")
        async with s.app.db.read() as store:
            [token] = await store.api_tokens()
        fingerprint = hashlib.sha256(OpenIncidentBody.model_validate(ALERT).model_dump_json().encode()).hexdigest()
        async with s.app.db.transaction() as store:  # as a replica leaves it when it dies in the middle of an open
            assert await store.claim_request(token.id, "alert-9", fingerprint, now=s.clock.now()) is None
        key = {"Idempotency-Key": "alert-9"}
        status, problem, _ = await s.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key)
        assert status == 409 and "still being carried out" in problem["detail"]
        s.clock.advance(timedelta(minutes=3))
        status, problem, _ = await s.call("POST", "/api/v1/incidents", write, body=ALERT, headers=key)
        assert status == 409 and "broke midway; check GET /incidents" in problem["detail"]
        assert (await s.counts())[0] == 0


async def test_a_platform_that_opens_war_rooms_only_as_threads_says_so(tmp_path: Any) -> None:
    chat = InMemoryChat()
    chat.capabilities = Capability.BUTTONS | Capability.EDIT  # as Teams without WARROOM_TEAMS_TEAM_ID
    async with served(f"sqlite:///{tmp_path / 'w.db'}", chat) as s:
        write = await s.token("alerts", "write")
        chat.fail["open_room"] = ChatError("in Teams a war room is a new thread in a team channel")  # none known
        status, problem, _ = await s.call("POST", "/api/v1/incidents", write, body=ALERT)
        assert status == 501 and "WARROOM_TEAMS_TEAM_ID" in problem["detail"]
        assert (await s.counts())[0] == 0
        assert (await s.call("POST", "/api/v1/incidents", write, body=ALERT))[0] == 201  # a channel is known now


async def test_a_chat_platform_refusing_the_room_is_a_502_and_records_nothing(database_url: str) -> None:
    chat = InMemoryChat()
    async with served(database_url, chat) as s:
        write = await s.token("alerts", "write")
        chat.fail["open_room"] = ChatError("conversations.create failed: ratelimited")
        status, problem, _ = await s.call("POST", "/api/v1/incidents", write, body=ALERT)
        assert status == 502 and "I could not open the war room" in problem["detail"]
        assert (await s.counts())[0] == 0


async def test_a_new_user_opens_an_incident_from_curl_on_warroom_serve_console(tmp_path: Path) -> None:
    """The README's first API steps on a machine with no chat platform: a write token, then `curl -d` opens INC-1 with
    its war room (printed by `serve --console`), the same Idempotency-Key opens nothing new, no token is a 401."""
    env = {**os.environ, "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}"}
    env["WARROOM_PLAYBOOKS"] = str(PLAYBOOKS)
    made = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "token", "create", "ci", "--scope", "write",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(made.communicate(), timeout=60)
    assert made.returncode == 0, err.decode()
    token = out.decode().strip()
    alert = json.dumps({"title": "POS freeze", "severity": 1, "customer": "Acme"})
    with (tmp_path / "stdout.txt").open("w") as terminal:
        async with warroom_serve(tmp_path, {}, args=["--console"], stdout=terminal) as server:
            async with aiohttp.ClientSession(timeout=PATIENCE) as http:

                async def post(headers: dict[str, str]) -> tuple[int, Any]:
                    form = {"Content-Type": FORM}  # what curl -d sends
                    async with http.post(f"{server.base}/api/v1/incidents", data=alert, headers=form | headers) as r:
                        return r.status, await r.json(content_type=None)

                key = {"Authorization": f"Bearer {token}", "Idempotency-Key": "alert-1"}
                assert (await post(key))[0] == 201
                again, body = await post(key)
                assert again == 200 and body["ref"] == "INC-1"
                assert (await post({}))[0] == 401
                async with http.get(f"{server.base}/api/v1/incidents?state=all", headers=key) as listed:
                    assert [i["ref"] for i in (await listed.json())["items"]] == ["INC-1"]
                async with http.get(f"{server.base}/metrics") as scraped:
                    families = {f.name: f for f in text_string_to_metric_families(await scraped.text())}
            opened = [s for s in families["warroom_incidents_open"].samples if s.labels.get("severity") == "1"]
            assert [s.value for s in opened] == [1.0]
            assert "warroom_reminder_lag_seconds" in families
    printed = (tmp_path / "stdout.txt").read_text()
    assert "created" in printed and "POS freeze" in printed  # the war room, opened in the terminal
