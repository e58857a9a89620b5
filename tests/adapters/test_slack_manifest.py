"""The Slack app manifest asks for exactly the scopes the adapter's Web API calls need, and routes to the server."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.conftest import ROOT

# Slack's documented bot scopes for each Web API method the adapter calls (public or private channels).
SCOPES = {
    "auth_test": set(),
    "views_open": set(),
    "conversations_create": {"channels:manage", "groups:write"},
    "conversations_setTopic": {"channels:manage", "groups:write"},
    "conversations_invite": {"channels:manage", "groups:write"},
    "chat_postMessage": {"chat:write"},
    "conversations_history": {"channels:history", "groups:history"},
    "conversations_replies": {"channels:history", "groups:history"},
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "pins_add": {"pins:write"},
    "users_list": {"users:read"},
    "users_lookupByEmail": {"users:read", "users:read.email"},
}


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text())
    return loaded


def test_the_manifest_asks_for_exactly_the_scopes_used() -> None:
    source = "".join(p.read_text() for p in (ROOT / "adapters" / "slack").glob("*.py"))
    called = set(re.findall(r"client\.(\w+)\(", source))
    assert called == set(SCOPES), "a new Web API method: add its scopes here and to slack/manifest.yaml"
    needed = set().union(*SCOPES.values()) | {"commands", "app_mentions:read"}  # /incident, the app_mention event

    assert sorted(manifest()["oauth_config"]["scopes"]["bot"]) == sorted(needed)


def test_the_manifest_routes_commands_events_and_buttons_to_one_endpoint() -> None:
    m = manifest()
    [command] = m["features"]["slash_commands"]
    urls = {
        command["url"],
        m["settings"]["event_subscriptions"]["request_url"],
        m["settings"]["interactivity"]["request_url"],
    }
    assert command["command"] == "/incident" and command["should_escape"] is True
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert m["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]
    assert m["settings"]["interactivity"]["is_enabled"] is True
