"""Real mail servers for tests: aiosmtpd on port 0 in the test's own event loop, and a throwaway Dovecot.

Dovecot runs as a process of its own with its own config file, a passwd-file of users and Maildirs in a temporary
folder, listening on a free port on 127.0.0.1 — no system service. Without the `dovecot` binary (the distribution's
`dovecot-imapd`) the IMAP tests skip and say why; with WARROOM_REQUIRE_DOVECOT=1 (CI) they fail instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

REQUIRE_DOVECOT = os.environ.get("WARROOM_REQUIRE_DOVECOT") == "1"


# --- SMTP ----------------------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server took: one envelope per message."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered `550`
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 2.0.0 Message accepted"


def self_signed(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1 made now: (the server's context, a client context that trusts it)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


class SmtpServer:
    """aiosmtpd listening on 127.0.0.1:<free port> in this event loop: plain, STARTTLS or TLS, with or without AUTH."""

    def __init__(self, inbox: Inbox, server: asyncio.Server) -> None:
        self.inbox, self.server = inbox, server
        self.port = server.sockets[0].getsockname()[1]

    @classmethod
    async def start(
        cls,
        *,
        tls: ssl.SSLContext | None = None,
        starttls: ssl.SSLContext | None = None,
        password: str | None = None,
    ) -> SmtpServer:
        inbox = Inbox()

        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password == (password or "").encode()
            if isinstance(data, LoginPassword):
                inbox.logins.append((data.login, data.password))
            return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 535 itself

        def factory() -> SMTP:
            return SMTP(
                inbox,
                hostname="warroom-test",
                tls_context=starttls,
                require_starttls=starttls is not None,
                authenticator=authenticate if password else None,
                auth_required=password is not None,
                auth_require_tls=starttls is not None,
            )

        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0, ssl=tls)
        return cls(inbox, server)

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def messages(self) -> list[Envelope]:
        return self.inbox.envelopes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- IMAP ----------------------------------------------------------------------------------------------------


class Dovecot:
    """A throwaway Dovecot: users come and go in its passwd-file, each with a Maildir of their own."""

    def __init__(self, folder: Path, port: int, mail_uid: int, mail_gid: int) -> None:
        self.folder, self.port = folder, port
        self.mail_uid, self.mail_gid = mail_uid, mail_gid
        self.process: subprocess.Popen[bytes] | None = None

    def new_user(self) -> tuple[str, str]:
        """A fresh account with an empty INBOX: (user, password). The accounts are written before Dovecot starts:
        it rereads its passwd-file by modification time, and two changes in one second would look like one."""
        return self._users.pop()

    def _make_users(self, count: int) -> None:
        self._users: list[tuple[str, str]] = []
        with (self.folder / "passwd").open("w") as f:
            for _ in range(count):
                user, password = f"u{uuid.uuid4().hex[:10]}", f"p@ss%{uuid.uuid4().hex[:8]}"
                f.write(f"{user}:{{PLAIN}}{password}\n")
                home = self.folder / "home" / user
                home.mkdir(parents=True)
                os.chown(home, self.mail_uid, self.mail_gid)
                self._users.append((user, password))

    def url(self, user: str, password: str, folder: str = "INBOX") -> str:
        from urllib.parse import quote

        return f"imap://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{quote(folder)}"

    def _client(self, user: str, password: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        client.login(user, password)
        return client

    def append_sync(self, user: str, password: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self._client(user, password)
        try:
            if folder != "INBOX":
                client.create(folder)
            typ, data = client.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            client.logout()

    async def append(self, user: str, password: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message as a mail server would (an IMAP APPEND, from another connection)."""
        await asyncio.to_thread(self.append_sync, user, password, raw, folder)

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        # As root, Dovecot's login processes must run as its unprivileged users, and mail as someone but root.
        login_user, internal_user = ("dovenull", "dovecot") if root else (me, me)
        (self.folder / "home").mkdir(exist_ok=True)
        os.chown(self.folder / "home", self.mail_uid, self.mail_gid)
        self._make_users(100)
        (self.folder / "dovecot.conf").write_text(
            f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.folder}/passwd
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={self.folder}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""
        )
        # Dovecot forks into the background: its output goes to a file, or waiting for it would never end.
        with (self.folder / "start.log").open("wb") as out:
            started = subprocess.run(
                [binary, "-c", str(self.folder / "dovecot.conf")], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        if started.returncode != 0:
            raise RuntimeError(f"dovecot exited {started.returncode}: {(self.folder / 'start.log').read_text()[-500:]}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Dovecot did not start: {self._log()}")

    def _log(self) -> str:
        log = self.folder / "dovecot.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"

    def stop(self) -> None:
        pid_file = self.folder / "run" / "master.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 15)  # the master we started, by its own pid file
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the session; each test takes a user of its own (`dovecot.new_user()`)."""
    if not (shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists()):
        reason = "no dovecot binary: install the distribution's dovecot-imapd for the IMAP tests"
        if REQUIRE_DOVECOT:
            pytest.fail(f"Dovecot is required (WARROOM_REQUIRE_DOVECOT=1) but absent: {reason}")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="warroom-dovecot-"))
    folder.chmod(0o755)  # Dovecot's unprivileged login processes reach their sockets through it
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.geteuid(), os.getegid()
    server = Dovecot(folder, free_port(), uid, gid)
    try:
        server.start()
    except (OSError, RuntimeError) as err:
        message = f"Dovecot would not start: {err}"
        if REQUIRE_DOVECOT:
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)
