"""Settings: the only reader of os.environ. Read once into a frozen value and passed down."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url

from bot.errors import WarroomError

_SECRETS = {"slack_bot_token", "slack_signing_secret", "slack_app_token", "microsoft_app_password"}
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
LOOPBACK = "127.0.0.1"
EVERYWHERE = "0.0.0.0"


class ConfigError(WarroomError):
    """A setting has a value Warroom cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///warroom.db"
    playbooks_dir: Path = Path("playbooks")
    timezone: str = "UTC"
    host: str | None = None  # None: chosen by bind_host from what would be exposed
    port: int = 3000
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    microsoft_app_id: str | None = None
    microsoft_app_password: str | None = field(default=None, repr=False)
    microsoft_app_tenant_id: str | None = None
    teams_team_id: str | None = None
    graph_api_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the WARROOM_*, SLACK_*, MICROSOFT_* and GRAPH_* variables; empty means unset."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        port_text = get("PORT") or "3000"
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ConfigError(f"PORT must be a port number, not {port_text!r}")
        host = get("HOST")
        if host is not None and not _is_host(host):
            raise ConfigError(f"HOST must be an IP address or a host name to listen on, not {host[:60]!r}")
        tz = get("WARROOM_TZ") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"WARROOM_TZ {tz!r} is not a time zone; try Europe/Berlin or America/New_York") from None
        return cls(
            database_url=get("WARROOM_DATABASE_URL") or cls.database_url,
            playbooks_dir=Path(get("WARROOM_PLAYBOOKS") or cls.playbooks_dir),
            timezone=tz,
            host=host,
            port=int(port_text),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=get("SLACK_API_URL"),
            microsoft_app_id=get("MICROSOFT_APP_ID"),
            microsoft_app_password=get("MICROSOFT_APP_PASSWORD"),
            microsoft_app_tenant_id=get("MICROSOFT_APP_TENANT_ID"),
            teams_team_id=get("WARROOM_TEAMS_TEAM_ID"),
            graph_api_url=get("GRAPH_API_URL"),
        )

    @property
    def teams_unauthenticated(self) -> bool:
        """True when `warroom serve` would answer Teams requests without checking who sent them."""
        return not (self.slack_bot_token or self.microsoft_app_id)

    @property
    def bind_host(self) -> str:
        """Where `warroom serve` listens: HOST; else loopback only while Teams would take unauthenticated requests."""
        return self.host or (LOOPBACK if self.teams_unauthenticated else EVERYWHERE)

    def describe(self) -> dict[str, str]:
        """Settings safe to log: secrets show only whether they are set."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("set" if value else "unset") if f.name in _SECRETS else str(value)
        out["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        out["host"] = self.bind_host
        return out


def _is_host(value: str) -> bool:
    """An IPv4 or IPv6 address (`0.0.0.0`, `::`) or a host name (`localhost`); no port, scheme or spaces."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        dotted_numbers = value.replace(".", "").isdigit()  # 999.1.1.1 is a bad address, not a name
        return len(value) <= 253 and not dotted_numbers and bool(_HOSTNAME.fullmatch(value))
    return True
