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

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from bot import commands as c
from bot.chat import Invocation, Message, Reply, RoomRef, Section, Strong, Tone, UserRef
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, IncidentState, Person
from bot.errors import BadInput
from bot.followups import FollowUp
from bot.mail.compose import (
    address_of,
    chase_subject,
    outgoing,
    thread,
    update_subject,
    vendor_text,
)
from bot.mail.inbound import Inbound
from bot.mail.message import new_message_id
from bot.mail.port import Mailbox, MailError, MailSender
from bot.outbox import backoff
from bot.share import CustomerLink
from bot.store import Store
from bot.store.mail import PENDING, SENT
from bot.store.tables import MailOutRow
from bot.updates import CustomerDesk
from bot.vendors import VendorDesk, signature
from bot.when import format_when, parse_when

log = logging.getLogger(__name__)
FETCH_BATCH = 50  # messages taken in per look at the mailbox
POLL = 60.0  # seconds between looks at a mailbox without IDLE (IDLE wakes us sooner)


@runtime_checkable
class KnowsEmails(Protocol):
    """A chat platform that can tell a person's email address (so the owner of a chase is copied in)."""

    async def email_of(self, user: UserRef) -> str | None: ...


class MailDesk(Inbound):
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
            if (names := await self.desk.voice.screen(store, incident, text)) and not cmd.confirm:
                found = names[0]
                raise BadInput(
                    f"nothing was sent: the text names '{found.text}' ({found.what}), which is internal; reword it, or "
                    "send it as written with confirm:yes",
                    example="update send … confirm:yes",
                )
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
                subject=update_subject(incident, await self.desk.voice.subject(store, incident, now)),
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

    async def email_link(
        self, incident: Incident, link: CustomerLink, url: str, to: Sequence[str], inv: Invocation
    ) -> str:
        """`share to:`: the link to the customer's page by email (a customer email, recorded like any other)."""
        if self.sender is None:
            return "Email is not set up here, so nothing was emailed: send the link yourself."
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await store.get_incident(incident.number, lock=True)
            row = await self._queue(
                store,
                incident,
                None,
                "share",
                to=tuple(to),
                cc=(),
                subject=update_subject(incident, await self.desk.voice.subject(store, incident, now)),
                body=await self.desk.voice.share_mail(store, incident, url),
                in_reply_to=None,
                refs=(),
                automatic=False,
                actor=person(inv),
                data={"link": link.number},
                now=now,
                leased=True,
            )
            await store.link_emailed(link.id, to)
        reply = await self._send_now(row, incident)
        return " ".join(m.title for m in reply.messages)

    async def _update_text(self, store: Store, incident: Incident, cmd: c.SendUpdate) -> tuple[str, tuple[int, ...]]:
        """What `update send` sends and which bad news it tells: the words given, or a prompt's draft."""
        news = await store.bad_news(incident.number)
        untold = {b.number: b for b in news if b.pending}
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
            body=vendor_text(
                f, incident, now, signed=signature(f, incident, await self.desk.commander(store, incident))
            ),
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
        if row.purpose == "share":
            text = f"link {data.get('link')} to the customer's page emailed to {to}"
            await store.add_event(
                incident.number, now, EventKind.EMAIL_SENT, actor, f"{text}: {mail.subject}", {**base, "customer": True}
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
