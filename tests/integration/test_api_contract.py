"""The OpenAPI document is valid, and every operation it lists answers over real HTTP as it documents."""

from __future__ import annotations

import json
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from bot.store import Database
from bot.store.tables import Base
from tests.integration.test_api import ALERT, Served, served

GOOD_BODIES = {"openIncident": ALERT, "runCommand": {"text": "note the registers froze at 09:12"}}


def check(doc: dict[str, Any], operation: dict[str, Any], status: int, media: str, body: str, why: str) -> None:
    """The status is one the operation documents and the body validates against its schema for that media type."""
    documented = operation["responses"]
    assert str(status) in documented, f"{operation['operationId']} ({why}) answered {status}, not in {list(documented)}"
    content = documented[str(status)]["content"]
    assert media in content, f"{operation['operationId']} ({why}) answered {media}, documented {list(content)}"
    instance = json.loads(body) if media.endswith("json") else body
    schema = {**content[media]["schema"], "components": doc["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=str)
    assert not errors, f"{operation['operationId']} ({why}): {errors[0].message}"


async def raw(s: Served, method: str, path: str, token: str | None, body: bytes | None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    async with s.http.request(method, s.base + path, headers=headers, data=body) as response:
        return response.status, response.content_type, await response.text()


async def test_every_documented_operation_answers_as_documented(database_url: str) -> None:
    async with served(database_url) as s:
        write, read = await s.token("alerts", "write"), await s.token("dashboard", "read")
        status, media, text = await raw(s, "GET", "/api/v1/openapi.json", None, None)
        assert status == 200 and media == "application/json"
        doc = json.loads(text)
        validate(doc)  # a valid OpenAPI 3.1 document
        await s.call("POST", "/api/v1/incidents", write, body=ALERT)  # INC-1 for the {n} routes
        await s.call("POST", "/api/v1/incidents/1/commands", write, body={"text": 'commit "a workaround" due:1h'})
        walked = 0
        for path, methods in doc["paths"].items():
            for method, operation in methods.items():
                name = operation["operationId"]
                good = json.dumps(GOOD_BODIES[name]).encode() if "requestBody" in operation else None
                token = write if operation["security"] else None
                tries: list[tuple[str, str, str | None, bytes | None]] = [
                    ("good", path.replace("{n}", "1"), token, good)
                ]
                if operation["security"]:
                    tries.append(("no token", path.replace("{n}", "1"), None, good))
                    tries.append(("read token", path.replace("{n}", "1"), read, good))
                if "{n}" in path:
                    tries.append(("unknown incident", path.replace("{n}", "999"), token, good))
                if good is not None:
                    tries.append(
                        ("unknown field", path.replace("{n}", "1"), token, b'{"text": "x", "title": "x", "z": 1}')
                    )
                    tries.append(("malformed", path.replace("{n}", "1"), token, b"{"))
                for query in [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]:
                    tries.append((f"bad {query}", f"{path.replace('{n}', '1')}?{query}=%00" + "x" * 300, token, good))
                for why, url, who, body in tries:
                    status, media, text = await raw(s, method.upper(), url, who, body)
                    check(doc, operation, status, media, text, why)
                    walked += 1
                if name == "getSummary":  # the other documented format
                    status, media, text = await raw(s, "GET", "/api/v1/incidents/1/summary?format=json", token, None)
                    check(doc, operation, status, media, text, "format=json")
        assert walked > 30
        assert {o["operationId"] for m in doc["paths"].values() for o in m.values()} == {
            "openapi", "listIncidents", "openIncident", "getIncident", "getTimeline", "getSummary", "runCommand",
            "listFollowUps", "listCommitments", "getScorecard",
        }  # fmt: skip


async def test_the_0012_migration_builds_what_the_models_describe(db: Database) -> None:
    def diff(conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    async with db.engine.connect() as conn:
        found = await conn.run_sync(diff)
    assert [d for d in found if "api_" in str(d)] == []
