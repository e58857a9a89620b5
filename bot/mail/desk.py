"""Email in and out of the war room: chases and updates sent, replies brought back.

Sending goes through the mail outbox (``mail_out``): the email is written in the transaction that decided it and
sent after it commits, under a lease, so one replica sends it; it is recorded as sent — on the timeline, as the
customer update ``U<n>`` it is — only once the mail server took it. A person who clicks *Send email* is answered
with the server's verdict; a chase sent without a click (a playbook's ``auto_send``) is retried with backoff for as
long as the server is down. Receiving is two steps: a message is first taken in (kept once, by its Message-ID),
then handled once, under a lease, by whichever replica claims it — a restart in between loses nothing and repeats
nothing. Nothing in an email is ever run as a command or followed: it is matched to what we sent by its threading
headers (else the subject's tag from a sender we know, else it is left alone) and quoted as plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import render
from bot.chat import Actions, Button, Inline, Invocation, Message, Reply, RoomRef, Section, Strong, Tone, UserRef
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, IncidentState, Person
from bot.errors import BadInput, NotFound
from bot.followups import FollowUp
from bot.mail.compose import (
    address_of,
    chase_subject,
    outgoing,
    thread,
    update_subject,
    vendor_text,
)
from bot.mail.message import MailKind, Received, new_message_id, parse
from bot.mail.port import Mailbox, MailError, MailSender
from bot.outbox import backoff
from bot.store import Store
from bot.store.mail import DONE, PENDING, SENT
from bot.store.tables import MailInRow, MailOutRow
from bot.updates import CustomerDesk
from bot.vendors import CHASE, VendorDesk, title
from bot.when import format_when, parse_when

log = logging.getLogger(__name__)
FETCH_BATCH = 50  # messages taken in per look at the mailbox
POLL = 60.0  # seconds between looks at a mailbox without IDLE (IDLE wakes us sooner)


@runtime_checkable
class KnowsEmails(Protocol):
    """A chat platform that can tell a person's email address (so the owner of a chase is copied in)."""

    async def email_of(self, user: UserRef) -> str | None: ...


class MailDesk:
    """`vendor email`, `update send`, the auto-sent chase, and what comes back from the mailbox."""

    def __init__(
        self,
        desk: Desk,
        vendors: VendorDesk,
        customer: CustomerDesk,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.desk, self.vendors, self.customer = desk, vendors, customer
        self.sender: MailSender | None = desk.core.mail
        self.mailbox: Mailbox | None = desk.core.mailbox
        self.mail_from = desk.core.mail_from
        self.owner = owner or uuid.uuid4().hex[:12]
        self.lease = lease

    # --- what the other desks ask ------------------------------------------------------------------

    def can_email(self, f: FollowUp) -> bool:
        """A *Send email* button belongs on the chase: mail is set up and the current rung has an address."""
        return self.sender is not None and f.is_open and address_of(f.contact) is not None

    def can_email_customer(self, incident: Incident) -> bool:
        return self.sender is not None and bool(self.customer_addresses(incident))

    def customer_addresses(self, incident: Incident) -> tuple[str, ...]:
        """The incident's customer contacts, else its playbook's."""
        if incident.customer_contacts:
            return incident.customer_contacts
        return self.desk.playbooks.get(incident.playbook).customer_contacts

    async def chased(self, store: Store, incident: Incident, f: FollowUp, now: datetime) -> None:
        """A chase or escalation fired: a vendor marked `auto_send` gets it by email, one a business day at most."""
        profile = self.vendors.profile(incident, f.vendor)
        if profile is None or not profile.auto_send or not self.can_email(f):
            return
        today = now.astimezone(ZoneInfo(f.timezone)).date()
        earlier = await store.mails(incident.number, follow_up=f.number)
        if any(m.created_at.astimezone(ZoneInfo(f.timezone)).date() == today for m in earlier):
            return  # one email per follow-up per business day, unless a person clicks
        copy = await self._email_of(f.owner)
        await self._queue_chase(store, incident, f, now, actor=None, automatic=True, copy=copy, leased=False)

    # --- verbs -------------------------------------------------------------------------------------

    def _require_mail(self, what: str) -> MailSender:
        if self.sender is None:
            raise BadInput(
                f"email is not set up here, so I cannot {what}: set WARROOM_SMTP_URL and WARROOM_MAIL_FROM "
                "(until then, copy the draft into your mail client)",
                example="vendor heard V1 they answered by phone",
            )
        return self.sender

    async def email_vendor(self, cmd: c.EmailFollowUp, inv: Invocation) -> Reply:
        """*Send email*: the drafted chase to the current rung, the owner (and, on an escalation, the rung below)
        in copy. Recorded only once the mail server took it."""
        self._require_mail("email a vendor")
        now = self.desk.now
        async with self.desk.db.read() as store:
            incident = await self.desk.target(store, cmd, inv, lock=False)
            f = await store.follow_up(incident.number, cmd.number)
        copy = await self._email_of(f.owner)
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("email a vendor")
            f = await store.follow_up(incident.number, cmd.number)
            if not f.is_open:
                raise BadInput(f"{f.ref} is {f.state}; there is nobody to chase", example="vendors")
            if address_of(f.contact) is None:
                who = f"{f.contact.name}, {f.contact.contact}" if f.contact else "nobody (the ladder is exhausted)"
                raise BadInput(
                    f"{f.ref}'s current contact is {who}: no email address on this rung; call them, or climb with "
                    f"`vendor escalate {f.ref}`",
                    example=f"vendor escalate {f.ref}",
                )
            row = await self._queue_chase(store, incident, f, now, actor=person(inv), automatic=False, copy=copy)
        return await self._send_now(row, incident)

    async def send_update(self, cmd: c.SendUpdate, inv: Invocation) -> Reply:
        """`update send`: email the customer contacts; the update `U<n>` is what was sent, recorded once it was."""
        self._require_mail("email the customer")
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("email the customer")
            to = self.customer_addresses(incident)
            if not to:
                raise BadInput(
                    f"{incident.ref} has no customer contacts to email",
                    example="set customer-contacts:ops@acme.example",
                )
            text, tells = await self._update_text(store, incident, cmd)
            next_at = parse_when(cmd.next, now=now, tz=ZoneInfo(incident.timezone)) if cmd.next else None
            earlier = [m for m in await store.mails(incident.number) if m.purpose == "update"]
            in_reply_to, refs = thread(earlier)
            row = await self._queue(
                store,
                incident,
                None,
                "update",
                to=to,
                cc=(),
                subject=update_subject(incident),
                body=text,
                in_reply_to=in_reply_to,
                refs=refs,
                automatic=False,
                actor=person(inv),
                data={"tells": list(tells), "next": next_at.isoformat() if next_at else None},
                now=now,
                leased=True,
            )
        return await self._send_now(row, incident)

    async def _update_text(self, store: Store, incident: Incident, cmd: c.SendUpdate) -> tuple[str, tuple[int, ...]]:
        """What `update send` sends and which bad news it tells: the words given, or a prompt's draft."""
        news = await store.bad_news(incident.number)
        untold = {b.number: b for b in news if not b.told}
        if cmd.text is not None:
            tells = tuple(untold) if cmd.tells_all else cmd.tells
            for n in tells:
                if n not in {b.number for b in news}:
                    raise BadInput(
                        f"{incident.ref} has no B{n}; `status` lists the bad news untold", example="tells:B1"
                    )
                if n not in untold:
                    raise BadInput(f"B{n} was already told", example="tells:B1")
            return cmd.text, tells
        if cmd.bad_news is not None:
            found = untold.get(cmd.bad_news)
            if found is None:
                raise BadInput(f"{incident.ref} has no untold B{cmd.bad_news}", example="update send B1")
            return found.draft, (found.number,)
        prompted = [
            e
            for e in await store.timeline(incident.number)
            if e.kind is EventKind.UPDATE_PROMPTED and e.data.get("draft")
        ]
        if not prompted:
            raise BadInput("there is no drafted update to send yet; say what to send", example="update send …")
        tells = tuple(n for n in prompted[-1].data.get("tells") or () if n in untold)
        return str(prompted[-1].data["draft"]), tells

    # --- the outbox of email -----------------------------------------------------------------------

    async def _queue_chase(
        self,
        store: Store,
        incident: Incident,
        f: FollowUp,
        now: datetime,
        *,
        actor: Person | None,
        automatic: bool,
        copy: str | None,
        leased: bool = True,
    ) -> MailOutRow:
        to = address_of(f.contact)
        assert to is not None
        cc = [copy] if copy else []
        if f.rung > 0 and (below := address_of(f.ladder[f.rung - 1])):
            cc.append(below)  # an escalation copies the rung that did not answer
        in_reply_to, refs = thread(await store.mails(incident.number, follow_up=f.number))
        return await self._queue(
            store,
            incident,
            f.number,
            "chase",
            to=(to,),
            cc=tuple(a for a in dict.fromkeys(cc) if a != to),
            subject=chase_subject(incident, f),
            body=vendor_text(f, incident, now),
            in_reply_to=in_reply_to,
            refs=refs,
            automatic=automatic,
            actor=actor,
            data={"rung": f.rung, "contact": f.contact.name if f.contact else None, "ours": [copy] if copy else []},
            now=now,
            leased=leased,
        )

    async def _queue(
        self,
        store: Store,
        incident: Incident,
        follow_up: int | None,
        purpose: str,
        *,
        to: Sequence[str],
        cc: Sequence[str],
        subject: str,
        body: str,
        in_reply_to: str | None,
        refs: Sequence[str],
        automatic: bool,
        actor: Person | None,
        data: dict[str, object],
        now: datetime,
        leased: bool,
    ) -> MailOutRow:
        """Owe an email. ``leased``: this replica sends it at once (a person waits); a replica that dies first
        leaves it to the others once the lease runs out."""
        return await store.queue_mail(
            MailOutRow(
                message_id=new_message_id(self.mail_from, incident.number),
                incident=incident.number,
                follow_up=follow_up,
                purpose=purpose,
                sender=self.mail_from,
                recipients=json.dumps({"to": list(to), "cc": list(cc)}),
                subject=subject,
                body=body,
                in_reply_to=in_reply_to,
                refs=json.dumps(list(refs)),
                automatic=automatic,
                actor_id=actor.id if actor else None,
                actor_name=actor.name if actor else None,
                data=json.dumps(data),
                state=PENDING,
                attempts=1 if leased else 0,
                next_attempt_at=now,
                lease_owner=self.owner if leased else None,
                lease_until=now + self.lease if leased else None,
                created_at=now,
            )
        )

    async def _send_now(self, row: MailOutRow, incident: Incident) -> Reply:
        """Send the email a person asked for and answer with the server's verdict."""
        assert self.sender is not None
        mail = outgoing(row)
        to = ", ".join(mail.recipients)
        try:
            await self.sender.send(mail)
        except MailError as err:
            if err.unknown_outcome:  # it may be out there: the outbox keeps it and tries again after the lease
                return Reply(
                    (
                        Message(
                            f"{incident.ref}: the mail server stopped answering while taking the email to {to} ({err})."
                            " It may have gone out; I keep trying, and it is recorded as sent only once the server"
                            " confirms it.",
                            tone=Tone.ERROR,
                        ),
                    ),
                    ok=False,
                )
            async with self.desk.db.transaction() as store:
                await store.mail_failed(row.id, self.owner, str(err))
            return Reply(
                (
                    Message(
                        f"{incident.ref}: could not send the email to {to}: {err}. Nothing was sent or recorded;"
                        " try again when the mail server is back.",
                        tone=Tone.ERROR,
                    ),
                ),
                ok=False,
            )
        text = await self._record_sent(row.id)
        return self.desk.ack(incident, text or f"emailed {to}")

    async def deliver(self, only: Sequence[int] | None = None) -> int:
        """Send every email due (a chase sent without a click, one whose sender died): retried with backoff, never
        recorded as sent until the server took it. Returns how many went out."""
        if self.sender is None:
            return 0
        sent = 0
        while True:
            now = self.desk.now
            async with self.desk.db.transaction() as store:
                rows = await store.claim_mail(self.owner, now, self.lease, 50, only=only)
            for row in rows:
                try:
                    await self.sender.send(outgoing(row))
                except MailError as err:
                    again = now + backoff(row.attempts)
                    log.warning("email %s not sent (%s); trying again at %s", row.id, err, again.isoformat())
                    async with self.desk.db.transaction() as store:
                        await store.mail_retry(row.id, self.owner, again, str(err))
                    continue
                sent += bool(await self._record_sent(row.id))
            if len(rows) < 50 or only is not None:
                break
        if sent:
            await self.desk.outbox.deliver()
        return sent

    async def _record_sent(self, row_id: int) -> str | None:
        """The server took it: mark it sent and record what it means (timeline, `U<n>`, a post in the room).

        Were recording to fail, the email is still marked sent — it went out, and must not go out again."""
        now = self.desk.now
        try:
            async with self.desk.db.transaction() as store:
                row = await store.locked_mail(row_id, self.owner)
                if row is None:
                    return None
                row.state, row.sent_at, row.lease_owner, row.lease_until = SENT, now, None, None
                return await self._sent(store, row, now)
        except Exception:
            log.exception("email %s was sent but recording it failed; it is marked sent, not recorded", row_id)
            async with self.desk.db.transaction() as store:
                row = await store.locked_mail(row_id, self.owner)
                if row is not None:
                    row.state, row.sent_at, row.lease_owner, row.lease_until = SENT, now, None, None
                    row.last_error = "sent; recording it in the incident failed (see the log)"
            return None

    async def _sent(self, store: Store, row: MailOutRow, now: datetime) -> str:
        incident = await store.get_incident(row.incident, lock=True)
        mail = outgoing(row)
        actor = Person(row.actor_id, row.actor_name or row.actor_id) if row.actor_id else None
        how = " automatically (the playbook's auto_send)" if row.automatic else ""
        to = ", ".join(mail.to) + (f" (cc {', '.join(mail.cc)})" if mail.cc else "")
        data = json.loads(row.data)
        base = {"mail": "sent", "to": list(mail.to), "cc": list(mail.cc), "message_id": row.message_id}
        if row.purpose == "chase" and row.follow_up is not None:
            f = await store.follow_up(incident.number, row.follow_up)
            text = f"{f.ref} chase emailed to {to}{how}"
            await store.add_event(
                incident.number,
                now,
                EventKind.EMAIL_SENT,
                actor,
                f"{text}: {mail.subject}",
                {**base, "follow_up": f.number, "vendor": f.vendor, "rung": data.get("rung"), "auto": row.automatic},
            )
            await self.desk.post(
                store,
                incident,
                Message(f"📧 {text}", (Section.of(Strong("Subject: "), mail.subject), Section.of(mail.text))),
            )
            return text
        if incident.state in (IncidentState.OPEN, IncidentState.MITIGATED, IncidentState.RESOLVED):
            by = actor or Person("warroom", "warroom")
            inv = Invocation("", UserRef(by.id, by.name), RoomRef(incident.room_id or "", incident.room_name or ""))
            nxt = data.get("next")
            await self.customer.record(
                store,
                incident,
                mail.text,
                tells=tuple(data.get("tells") or ()),
                inv=inv,
                next_at=datetime.fromisoformat(nxt) if nxt else None,
                via=f"by email to {to}",
            )
        text = f"customer update emailed to {to}"
        await store.add_event(
            incident.number, now, EventKind.EMAIL_SENT, actor, f"{text}: {mail.subject}", {**base, "customer": True}
        )
        return text

    async def _email_of(self, who: Person) -> str | None:
        if "@" in who.id and "." in who.id.rsplit("@", 1)[-1]:
            return who.id.lower()
        chat = self.desk.core.chat
        if isinstance(chat, KnowsEmails):
            try:
                return await chat.email_of(UserRef(who.id, who.name))
            except Exception as err:  # a copy for the owner is a courtesy; the chase goes without it
                log.warning("could not look up %s's email address: %s", who.name, err)
        return None

    # --- what comes back ---------------------------------------------------------------------------

    async def take_in(self) -> int:
        """Read what is new in the mailbox and keep each message once (step one; `handle` is step two)."""
        if self.mailbox is None:
            return 0

        async def cursor(folder: str, uidvalidity: int) -> int:
            async with self.desk.db.read() as store:
                return await store.mail_cursor(folder, uidvalidity)

        kept = 0
        for fetched in await self.mailbox.fetch_new(cursor, limit=FETCH_BATCH):
            place = f"{fetched.folder}/{fetched.uidvalidity}/{fetched.uid}"
            try:
                received: Received | None = parse(fetched.raw, size=fetched.size)
            except Exception:  # a message the parser cannot read at all is kept as unreadable, not retried forever
                log.warning("message %s could not be read; it is left alone", place)
                received = None
            row = MailInRow(
                key=((received.message_id if received else None) or place)[:300],
                folder=fetched.folder,
                uidvalidity=fetched.uidvalidity,
                uid=fetched.uid,
                received_at=self.desk.now,
                mail=json.dumps(received.to_json() if received else {}),
                state=PENDING if received else DONE,
                attempts=0,
                outcome=None if received else "left alone: it could not be read",
            )
            async with self.desk.db.transaction() as store:
                if await store.take_in(row):
                    kept += 1
                    continue
                # The same message seen again (delivered twice, or under a new UIDVALIDITY): its place is kept so
                # the cursor moves past it, and it is handled no second time.
                await store.take_in(
                    MailInRow(
                        key=place[:300],
                        folder=fetched.folder,
                        uidvalidity=fetched.uidvalidity,
                        uid=fetched.uid,
                        received_at=self.desk.now,
                        mail="{}",
                        state=DONE,
                        attempts=0,
                        outcome="left alone: a copy of a message already taken in",
                        handled_at=self.desk.now,
                    )
                )
        return kept

    async def handle(self) -> int:
        """Handle every message taken in and not yet handled, each once across replicas (step two)."""
        handled = 0
        while True:
            now = self.desk.now
            async with self.desk.db.transaction() as store:
                ids = await store.claim_taken_in(self.owner, now, self.lease, 50)
            for row_id in ids:
                try:
                    async with self.desk.db.transaction() as store:
                        row = await store.locked_taken_in(row_id, self.owner)
                        if row is None:
                            continue
                        outcome, incident = await self._handle(store, row, Received.from_json(json.loads(row.mail)))
                        row.state, row.outcome, row.incident, row.handled_at = DONE, outcome, incident, now
                        row.lease_owner, row.lease_until = None, None
                    handled += 1
                except Exception:
                    log.exception("handling message %s failed; it is kept and tried again", row_id)
                    with contextlib.suppress(Exception):
                        async with self.desk.db.transaction() as store:
                            await store.release_taken_in(row_id, self.owner, now + backoff(1))
            if len(ids) < 50:
                break
        if handled:
            await self.desk.outbox.deliver()
        return handled

    async def check(self) -> int:
        """Take in what is new and handle it: one look at the mailbox."""
        await self.take_in()
        return await self.handle()

    async def run_forever(self, stop: asyncio.Event, *, poll: float = POLL) -> None:
        """Look at the mailbox until ``stop``: at once when IDLE says mail came, else every ``poll`` seconds."""
        while not stop.is_set():
            try:
                await self.check()
                await self.deliver()
            except MailError as err:
                log.warning("the mailbox %s: %s", self.mailbox.name if self.mailbox else "-", err)
            except Exception:
                log.exception("looking at the mailbox failed; trying again shortly")
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
            if self.mailbox is not None:
                waits.append(asyncio.ensure_future(self.mailbox.wait(poll)))
            try:
                await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
                for w in waits:
                    with contextlib.suppress(BaseException):
                        await w

    async def _handle(self, store: Store, row: MailInRow, mail: Received) -> tuple[str, int | None]:
        """Match a message to what we sent and act on it; or leave it alone, saying why."""
        ours = await store.mails_by_message_id(mail.thread_ids)
        by_id = {m.message_id: m for m in ours}
        matched = next((by_id[i] for i in mail.thread_ids if i in by_id), None)
        if matched is not None:
            number, follow_up, exact = matched.incident, matched.follow_up, False
        elif mail.tag is not None and mail.kind is not MailKind.BOUNCE:
            (number, follow_up), exact = mail.tag, True
        else:
            return "left alone: it answers nothing Warroom sent", None
        try:
            incident = await store.get_incident(number, lock=True)
            f = await store.follow_up(number, follow_up) if follow_up is not None else None
        except NotFound:
            return f"left alone: INC-{number} {f'V{follow_up} ' if follow_up else ''}does not exist", None
        if incident.is_closed:
            return f"left alone: {incident.ref} is closed", incident.number
        sent = await store.mails(incident.number)
        if mail.kind is not MailKind.BOUNCE and not self._known(mail.sender, incident, f, sent, exact=exact):
            return f"left alone: {mail.sender or 'no sender'} is not someone {incident.ref} wrote to", incident.number
        if f is not None:
            return await self._from_vendor(store, incident, f, row, mail, matched), incident.number
        return await self._from_customer(store, incident, row, mail, matched), incident.number

    def _known(
        self, sender: str, incident: Incident, f: FollowUp | None, sent: list[MailOutRow], *, exact: bool
    ) -> bool:
        """Someone we wrote to about this: a rung of the ladder, a customer contact, an address we emailed — exactly,
        for a subject tag anyone could type; or at the same organisation, for a reply that quotes our Message-ID."""
        if f is not None:
            ours = {a for m in sent if m.follow_up == f.number for a in json.loads(m.data).get("ours", [])}
            known = {a for r in f.ladder if (a := address_of(r))}
            known |= {a for m in sent if m.follow_up == f.number for a in json.loads(m.recipients)["to"]}
        else:
            ours = set()
            known = set(self.customer_addresses(incident))
            known |= {a for m in sent if m.purpose == "update" for a in json.loads(m.recipients)["to"]}
        sender = sender.lower()
        if not sender or sender in ours or sender == self.mail_from.lower().rsplit("<", 1)[-1].rstrip(">"):
            return False
        if sender in known:
            return True
        domain = sender.rsplit("@", 1)[-1]
        return not exact and any(a.rsplit("@", 1)[-1] == domain for a in known)

    async def _from_vendor(
        self, store: Store, incident: Incident, f: FollowUp, row: MailInRow, mail: Received, matched: MailOutRow | None
    ) -> str:
        who = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
        data = {"follow_up": f.number, "vendor": f.vendor, "from": mail.sender, "message_id": mail.message_id}
        note = _size_note(mail)
        if mail.kind is MailKind.BOUNCE:
            failed = list(mail.bounced or (json.loads(matched.recipients)["to"] if matched else []))
            text = f"{f.ref} email to {', '.join(failed) or 'the vendor'} bounced" + (
                f" ({mail.bounce_reason})" if mail.bounce_reason else ""
            )
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "bounce", "to": failed})  # fmt: skip
            nxt = f.ladder[f.rung + 1] if f.rung + 1 < len(f.ladder) else None
            advice = (
                f"The chase goes on. Next rung: {nxt.name}"
                + (f" ({nxt.role})" if nxt.role else "")
                + f", {nxt.contact}"
                f" — climb with `vendor escalate {f.ref}`."
                if nxt
                else "The chase goes on; no rung is left above this one — Plan B is next."
            )
            await self.desk.post(
                store,
                incident,
                Message(
                    f"⚠ {title(f)}: {text.removeprefix(f.ref + ' ')}",
                    (Section.of(render.mention(f.owner), f" — {advice}"), _vendor_buttons(f, bounce=True)),
                    Tone.BAD_NEWS,
                ),
            )
            return f"bounce for {incident.ref} {f.ref}"
        if mail.kind is MailKind.AUTO_REPLY:
            text = f"{f.ref} automatic reply from {who}: not an answer"
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "auto_reply"})  # fmt: skip
            await self.desk.post(
                store,
                incident,
                Message(
                    f"🤖 {title(f)}: an automatic reply from {who} — not an answer",
                    (
                        Section.of(Strong("It says: "), _short(mail.text) or "(nothing)"),
                        Section.of("The chase goes on as planned: an out-of-office is not an answer." + note),
                    ),
                    Tone.INFO,
                ),
            )
            return f"auto-reply for {incident.ref} {f.ref}"
        answered = f.is_open
        if answered:
            heard = f.heard(row.received_at, None)
            await store.save_follow_up(heard)
            await store.cancel_reminders(incident.number, CHASE, f.number)  # paused until a person sets the next due
            f = heard
        text = f"{f.ref} {f.vendor} replied by email ({who})"
        await store.add_event(
            incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, f"{text}: {_short(mail.text, 300)}",
            {**data, "mail": "reply", "heard": answered},
        )  # fmt: skip
        after = (
            f"{f.ref} is marked heard and the chase is paused until someone sets the next due: "
            f"`vendor heard {f.ref} due:<when>`, or `vendor done {f.ref}` when it has arrived."
            if answered
            else f"{f.ref} is {f.state}; nothing was changed."
        )
        await self.desk.post(
            store,
            incident,
            Message(
                f"📨 {title(f)}: {who} replied by email",
                (
                    Section.of(render.mention(f.owner), " — ", mail.text or "(no text)"),
                    Section.of(after + note),
                    _vendor_buttons(f, bounce=False),
                ),
                Tone.SUCCESS,
            ),
        )
        return f"reply for {incident.ref} {f.ref}" + ("" if answered else f" ({f.ref} was {f.state})")

    async def _from_customer(
        self, store: Store, incident: Incident, row: MailInRow, mail: Received, matched: MailOutRow | None
    ) -> str:
        who = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
        customer = incident.customer or "the customer"
        comms = await self.customer.comms(store, incident)
        data = {"customer": True, "from": mail.sender, "message_id": mail.message_id}
        if mail.kind is MailKind.BOUNCE:
            failed = list(mail.bounced or (json.loads(matched.recipients)["to"] if matched else []))
            text = f"email to {', '.join(failed) or customer} bounced" + (
                f" ({mail.bounce_reason})" if mail.bounce_reason else ""
            )
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "bounce", "to": failed})  # fmt: skip
            body = "the update did not reach them: check `set customer-contacts:` and send it again."
            kind, tone, head = "bounce", Tone.BAD_NEWS, f"⚠ {incident.ref}: {text}"
        elif mail.kind is MailKind.AUTO_REPLY:
            text = f"automatic reply from {who} ({customer}): not an answer"
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None, text,
                                  {**data, "mail": "auto_reply"})  # fmt: skip
            body = f"an automatic reply, not {customer}'s answer. It says: {_short(mail.text)}"
            kind, tone, head = "auto-reply", Tone.INFO, f"🤖 {incident.ref}: {text}"
        else:
            text = f"{customer} replied by email ({who})"
            await store.add_event(incident.number, row.received_at, EventKind.EMAIL_RECEIVED, None,
                                  f"{text}: {_short(mail.text, 300)}", {**data, "mail": "reply"})  # fmt: skip
            body = f"{customer} wrote back — answer them (`update send …`):"
            kind, tone, head = "reply", Tone.REMINDER, f"📨 {incident.ref}: {text}"
        mention: list[Inline] = [render.mention(comms), " — "] if comms else []
        blocks: list[Section | Actions] = [Section.of(*mention, body)]
        if kind == "reply":
            blocks.append(Section.of(mail.text or "(no text)"))
        if _size_note(mail):
            blocks.append(Section.of(_size_note(mail).strip()))
        await self.desk.post(store, incident, Message(head, tuple(blocks), tone))
        return f"customer {kind} for {incident.ref}"

    # --- the console's outbox -----------------------------------------------------------------------

    async def outbox_lines(self, tz: ZoneInfo) -> list[str]:
        """Every email owed or sent, newest last, one line each (the console's `/outbox`)."""
        async with self.desk.db.read() as store:
            rows = await store.mails()
        lines = []
        for row in rows:
            mail = outgoing(row)
            when = format_when(row.sent_at or row.created_at, tz)
            state = {"sent": "sent", "pending": "waiting to be sent", "failed": "not sent"}.get(row.state, row.state)
            lines.append(f"#{row.id} {when} {state}: to {', '.join(mail.recipients)} — {mail.subject}")
        return lines


def _vendor_buttons(f: FollowUp, *, bounce: bool) -> Actions:
    if bounce:
        return Actions((Button("Escalate", f"vendor escalate {f.ref}", "danger"),))
    return Actions(
        (
            Button("Received", f"vendor done {f.ref}", "primary"),
            Button("Heard back", f"vendor heard {f.ref}"),
            Button("Escalate", f"vendor escalate {f.ref}", "danger"),
        )
    )


def _short(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _size_note(mail: Received) -> str:
    if not mail.cut:
        return ""
    return f" (A {mail.size / 1_000_000:.1f} MB message: only its beginning was read; attachments are not kept.)"
