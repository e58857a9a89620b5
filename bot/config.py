"""Settings: the only reader of os.environ. Read once into a frozen value and passed down."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from email.headerregistry import Address
from email.utils import formataddr, parseaddr
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url

from bot.errors import WarroomError
from bot.webhooks import ALLOW_PRIVATE, SubscriptionError, WebhookTarget, parse_targets

_SECRETS = {
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "microsoft_app_password",
    "webhook_secret",
    "metrics_token",
}
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
LOOPBACK = "127.0.0.1"
EVERYWHERE = "0.0.0.0"
# A bearer token (RFC 6750's b64token), long enough not to be guessed: `openssl rand -hex 32` makes one.
_BEARER = re.compile(r"[A-Za-z0-9._~+/-]{16,}=*")


class ConfigError(WarroomError):
    """A setting has a value Warroom cannot use."""


_MAIL_PORTS = {"smtp": 587, "smtps": 465, "imap": 143, "imaps": 993}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class MailServer:
    """An SMTP or IMAP server read from a URL: where, how it is secured, as whom. ``str()`` never shows the password.

    ``smtp://`` is STARTTLS (required, but where the server is this machine: then only if offered), ``smtps://``
    TLS from the first byte; ``imaps://`` is TLS, ``imap://`` plain text and only to this machine. An IMAP URL's
    path is the folder replies are read from (``INBOX`` when it has none)."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    folder: str = "INBOX"

    @property
    def implicit_tls(self) -> bool:
        return self.scheme in ("smtps", "imaps")

    @property
    def loopback(self) -> bool:
        return self.host.lower() in _LOOPBACK_NAMES

    @property
    def starttls(self) -> bool | None:
        """SMTP's STARTTLS: True (required), None (if the server offers it: this machine only), False (TLS already)."""
        if self.implicit_tls:
            return False
        return None if self.loopback else True

    def __str__(self) -> str:
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = f"/{quote(self.folder, safe='')}" if self.scheme.startswith("imap") else ""
        return f"{self.scheme}://{user}{host}:{self.port}{path}"

    @classmethod
    def parse(cls, setting: str, url: str, schemes: tuple[str, str]) -> MailServer:
        """Read ``url`` (the value of ``setting``); a ConfigError that never repeats the password otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigError(f"{setting} is not a URL like {schemes[0]}://user:password@host:port") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigError(f"{setting} must start {schemes[0]}:// or {schemes[1]}:// and name a host")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        server = cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=port or _MAIL_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            folder=folder,
        )
        if server.scheme == "imap" and not server.loopback:
            raise ConfigError(f"{setting}: imap:// sends the password in clear text; use imaps:// for {server.host}")
        if any(ch in folder for ch in '\r\n\x00"') or len(folder) > 200:
            raise ConfigError(f"{setting}: the folder {folder[:40]!r} is not a mailbox name")
        return server


def mail_address(setting: str, value: str) -> str:
    """`warroom@acme.example` or `Warroom <warroom@acme.example>`, checked, as a From header value."""
    name, address = parseaddr(value)
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        parsed = None
    if parsed is None or not parsed.domain or "." not in parsed.domain or any(ch in value for ch in "\r\n"):
        raise ConfigError(f"{setting} must be an email address like warroom@acme.example, not {value[:60]!r}")
    return formataddr((name, address)) if name else address


LIVE_PER_VIEWER = 8  # WARROOM_LIVE_PAGES_PER_VIEWER's default: a few tabs of the dashboard each
MIN_WEB_SECRET = 32  # characters: `openssl rand -base64 32` gives 44


@dataclass(frozen=True)
class WebSignIn:
    """Who may open the dashboard and how they prove it: OpenID Connect with one provider (Slack, Entra ID, ...).

    ``allow`` holds ``@domain`` (a verified email in exactly that domain), ``@*.domain`` (in one of its
    subdomains), ``name@domain`` (that address), ``slack:T…`` (a
    Slack team id) and ``entra:<tenant id>`` entries."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)  # hidden from repr, so Settings.describe() never shows it
    secret: str = field(repr=False)  # WARROOM_WEB_SECRET: the session cookies' key
    allow: tuple[str, ...]

    @classmethod
    def from_env(cls, get: Callable[[str], str | None]) -> WebSignIn | None:
        """The WARROOM_OIDC_* and WARROOM_WEB_* settings; None when no issuer is set; a ConfigError if incomplete."""
        issuer = get("WARROOM_OIDC_ISSUER")
        if issuer is None:
            stray = [name for name in _WEB_NAMES if get(name)]
            if stray:
                raise ConfigError(f"{stray[0]} is set: set WARROOM_OIDC_ISSUER too, or unset it")
            return None
        issuer = issuer.rstrip("/")
        _origin("WARROOM_OIDC_ISSUER", issuer, path=True)
        missing = [name for name in _WEB_NAMES if not get(name)]
        if missing:
            raise ConfigError(f"WARROOM_OIDC_ISSUER is set: set {' and '.join(missing)} too")
        secret = get("WARROOM_WEB_SECRET") or ""
        if len(secret) < MIN_WEB_SECRET:
            raise ConfigError(
                f"WARROOM_WEB_SECRET must be at least {MIN_WEB_SECRET} characters; make one: openssl rand -base64 32"
            )
        allow: list[str] = []
        for entry in (get("WARROOM_WEB_ALLOW") or "").replace(",", " ").split():
            normal = _allow_entry(entry)
            if normal is None:
                raise ConfigError(
                    f"WARROOM_WEB_ALLOW: {entry[:60]!r} is not @domain, @*.domain, name@domain, slack:<team id> "
                    "or entra:<tenant id>"
                )
            allow.append(normal)
        return cls(
            issuer=issuer,
            client_id=get("WARROOM_OIDC_CLIENT_ID") or "",
            client_secret=get("WARROOM_OIDC_CLIENT_SECRET") or "",
            secret=secret,
            allow=tuple(allow),
        )


_WEB_NAMES = (
    "WARROOM_OIDC_CLIENT_ID",
    "WARROOM_OIDC_CLIENT_SECRET",
    "WARROOM_WEB_SECRET",
    "WARROOM_WEB_ALLOW",
)
_ALLOW = re.compile(r"slack:T[A-Z0-9]+|entra:[0-9a-fA-F-]{36}")
_DOMAIN = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+")


def email_parts(address: str) -> tuple[str, str] | None:
    """``address`` as (local part, lower-case domain) when it is exactly one plain address (email.utils reads it:
    no display name, no second `@`, no list); else None."""
    name, parsed = parseaddr(address)
    if name or not parsed or parsed != address.strip() or parsed.count("@") != 1:
        return None
    local, _, domain = parsed.rpartition("@")
    domain = domain.lower()
    if not local or not _DOMAIN.fullmatch(domain):
        return None
    return local, domain


def _allow_entry(entry: str) -> str | None:
    """One WARROOM_WEB_ALLOW entry, normalised (`@acme.example`, `@*.acme.example`, `sam@acme.example`,
    `slack:T…`, `entra:…`); None when it is none of these."""
    if _ALLOW.fullmatch(entry):
        return entry
    if entry.startswith("@"):
        domain = entry[3:] if entry.startswith("@*.") else entry[1:]
        return entry.lower() if _DOMAIN.fullmatch(domain.lower()) else None
    parts = email_parts(entry)
    return f"{parts[0].lower()}@{parts[1]}" if parts else None


def email_allowed(entry: str, email: str) -> bool:
    """Whether the (verified) ``email`` is one an allow ``entry`` names: `@acme.example` that domain exactly,
    `@*.acme.example` its subdomains, `sam@acme.example` that address."""
    parts = email_parts(email)
    if parts is None:
        return False
    local, domain = parts
    if entry.startswith("@*."):
        return domain.endswith("." + entry[3:])
    if entry.startswith("@"):
        return domain == entry[1:]
    return f"{local.lower()}@{domain}" == entry


def _origin(setting: str, value: str, *, path: bool = False) -> str:
    """``value`` as ``scheme://host[:port]`` (with a path when ``path``); https, or http to this machine only."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    local = (parts.hostname or "").lower() in _LOOPBACK_NAMES
    if not parts.hostname or parts.scheme not in ("https", "http") or parts.query or parts.fragment:
        raise ConfigError(f"{setting} must be a URL like https://warroom.example.com, not {value[:60]!r}")
    if parts.scheme == "http" and not local:
        raise ConfigError(f"{setting} must start https:// (http:// only for this machine), not {value[:60]!r}")
    if not path and parts.path not in ("", "/"):
        raise ConfigError(f"{setting} must be an origin with no path, like https://warroom.example.com")
    return f"{parts.scheme}://{parts.netloc}" + (parts.path.rstrip("/") if path else "")


_REPLICA = re.compile(r"[A-Za-z0-9._-]{1,48}")


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
    smtp: MailServer | None = None  # email out; None: emails go to the console's outbox, or nowhere in `serve`
    mail_from: str | None = None
    imap: MailServer | None = None  # the mailbox replies are read from
    webhooks: tuple[WebhookTarget, ...] = ()  # WARROOM_WEBHOOKS: subscriptions kept in the settings
    webhook_secret: str | None = field(default=None, repr=False)  # their signing secret unless one says secret=
    webhooks_allow_private: bool = False  # WARROOM_WEBHOOKS_ALLOW_PRIVATE: webhooks may go to this network too
    web: WebSignIn | None = None  # dashboard sign-in; None: the dashboard answers this machine only
    public_url: str | None = None  # the origin browsers use (behind a proxy); None: taken from each request
    metrics_token: str | None = field(default=None, repr=False)  # None: GET /metrics needs no token
    # WARROOM_REPLICA: this replica's stable name (a StatefulSet pod's); restarted under it, it takes back at once the
    # commands it held. None: a new name each start, and a dead replica's commands wait for their leases.
    replica: str | None = None
    drain: float = 25.0  # WARROOM_DRAIN_SECONDS: SIGTERM to exit, everything claimed handed back (30 s is k8s's)
    live_per_viewer: int = LIVE_PER_VIEWER  # live dashboard pages one person (or address) may have open at once

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
        smtp_url, imap_url, mail_from = get("WARROOM_SMTP_URL"), get("WARROOM_IMAP_URL"), get("WARROOM_MAIL_FROM")
        public_url = get("WARROOM_PUBLIC_URL")
        smtp = MailServer.parse("WARROOM_SMTP_URL", smtp_url, ("smtp", "smtps")) if smtp_url else None
        imap = MailServer.parse("WARROOM_IMAP_URL", imap_url, ("imaps", "imap")) if imap_url else None
        if mail_from is None and smtp is not None:
            if smtp.username is None or "@" not in smtp.username:
                raise ConfigError("WARROOM_SMTP_URL is set: set WARROOM_MAIL_FROM to the address Warroom sends from")
            mail_from = smtp.username
        webhook_secret = get("WARROOM_WEBHOOK_SECRET")
        allow_private = _switch(ALLOW_PRIVATE, get("WARROOM_WEBHOOKS_ALLOW_PRIVATE"))
        try:
            webhooks = parse_targets(
                get("WARROOM_WEBHOOKS") or "", default_secret=webhook_secret, allow_private=allow_private
            )
        except SubscriptionError as err:
            raise ConfigError(str(err) if str(err).startswith("WARROOM_") else f"WARROOM_WEBHOOKS: {err}") from None
        per_viewer = get("WARROOM_LIVE_PAGES_PER_VIEWER") or str(LIVE_PER_VIEWER)
        if not (per_viewer.isascii() and per_viewer.isdigit()) or not 0 < int(per_viewer) <= 1000:
            raise ConfigError(f"WARROOM_LIVE_PAGES_PER_VIEWER must be a number from 1 to 1000, not {per_viewer[:20]!r}")
        metrics_token = get("WARROOM_METRICS_TOKEN")
        if metrics_token is not None and not _BEARER.fullmatch(metrics_token):
            raise ConfigError(
                "WARROOM_METRICS_TOKEN must be at least 16 letters, digits or -._~+/ (e.g. `openssl rand -hex 32`)"
            )
        replica = get("WARROOM_REPLICA")
        if replica is not None and not _REPLICA.fullmatch(replica):
            raise ConfigError(
                f"WARROOM_REPLICA must be 1 to 48 letters, digits or -._ (a pod name), not {replica[:60]!r}"
            )
        drain_text = get("WARROOM_DRAIN_SECONDS") or "25"
        if not (drain_text.isascii() and drain_text.isdigit()) or not 5 <= int(drain_text) <= 600:
            raise ConfigError(
                f"WARROOM_DRAIN_SECONDS must be a whole number of seconds from 5 to 600, not {drain_text!r}"
            )
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
            smtp=smtp,
            mail_from=mail_address("WARROOM_MAIL_FROM", mail_from) if mail_from else None,
            imap=imap,
            webhooks=webhooks,
            webhook_secret=webhook_secret,
            webhooks_allow_private=allow_private,
            web=WebSignIn.from_env(get),
            public_url=_origin("WARROOM_PUBLIC_URL", public_url) if public_url else None,
            metrics_token=metrics_token,
            replica=replica,
            drain=float(drain_text),
            live_per_viewer=int(per_viewer),
        )

    @property
    def teams_unauthenticated(self) -> bool:
        """True when `warroom serve` would answer Teams requests without checking who sent them."""
        return not (self.slack_bot_token or self.microsoft_app_id)

    @property
    def bind_host(self) -> str:
        """Where `warroom serve` listens: HOST; else loopback only while Teams would take unauthenticated requests."""
        return self.host or (LOOPBACK if self.teams_unauthenticated else EVERYWHERE)

    def check_exposure(self) -> None:
        """A ConfigError when `warroom serve` would listen beyond this machine with nothing there to authenticate
        callers: no chat platform that signs its requests and no dashboard sign-in. Such a server would answer its
        health check and nobody else (the dashboard answers this machine only), or take anyone's Teams messages."""
        if is_loopback(self.bind_host) or not self.teams_unauthenticated or self.web is not None:
            return
        raise ConfigError(
            f"HOST={self.bind_host} listens beyond this machine but nothing authenticates callers: set SLACK_BOT_TOKEN "
            "and SLACK_SIGNING_SECRET, MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD, or the dashboard's sign-in "
            "(WARROOM_OIDC_ISSUER); or HOST=127.0.0.1 for this machine only"
        )

    def describe(self) -> dict[str, str]:
        """Settings safe to log: secrets show only whether they are set."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("set" if value else "unset") if f.name in _SECRETS else str(value)
        out["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        out["host"] = self.bind_host
        return out


def is_loopback(host: str) -> bool:
    """True for a host only this machine can reach: `localhost`, 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _switch(setting: str, value: str | None) -> bool:
    """An on/off setting: 1/true/yes or 0/false/no (unset: off)."""
    if value is None or value.lower() in ("0", "false", "no", "off"):
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{setting} must be 1 or 0, not {value[:20]!r}")


def _is_host(value: str) -> bool:
    """An IPv4 or IPv6 address (`0.0.0.0`, `::`) or a host name (`localhost`); no port, scheme or spaces."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        dotted_numbers = value.replace(".", "").isdigit()  # 999.1.1.1 is a bad address, not a name
        return len(value) <= 253 and not dotted_numbers and bool(_HOSTNAME.fullmatch(value))
    return True
