"""`warroom demo`: the RMA that sat for two months, then the provider that pushed its root cause onto the customer,
replayed in simulated time through the console adapter."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.clock import SimClock
from bot.config import Settings
from bot.domain import IncidentState
from bot.summary import build_summary, to_markdown

DEMO_DATABASE = Path("warroom-demo.db")  # in the current folder, replaced by each run; `warroom dashboard` shows it
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/Chicago"))  # a Monday; US clocks change on the 8th

SCRIPT = """\
# Monday morning. An edge router at Acme Retail's distribution centre is dead; the replacement must come
# through the partner's only distributor, Northwind. Dana opens the war room and states the stakes.
/as @dana
/incident open "Edge router failed at Acme Retail DC-3" sev:2 customer:"Acme Retail" playbook:hardware-rma impact:"DC-3 ships on a 4G backup link at a third of its capacity" cost:2500/h at-risk:2M
/incident role comms @lee
/incident note RMA 4471 filed with the partner; Northwind holds the only stock in the region
/incident set doing:"getting a replacement router to DC-3 through our supplier, with a backup link in place meanwhile"
/incident vendor northwind "tracking number for the replacement router" due:2d ref:RMA-4471 owner:@lee
# The promise to the customer depends on that follow-up: needs:V1 ties them together.
/incident commit "replacement router on site at DC-3" due:"fri 17:00" needs:V1
# Lee owns the customer: the first update goes out within the hour.
/as @lee
/incident update told Acme the router failed, RMA 4471 is with the distributor, next update Wednesday noon next:"wed 12:00"
# Wednesday. Northwind is late and silent: the bot chases Lee, and because the promise needs V1 it is at risk
# at once (bad news B1). Lee's update only says "we are chasing": it does not tell B1, and the bot says so.
/clock +2d3h
/incident update told Acme the distributor has not confirmed shipping yet and we are chasing daily next:"fri 12:00"
# Lee sends the chase by email (the chase post's "Send email" button, typed). Northwind's rep answers at once —
# with an out-of-office: shown in the room, and not an answer, so the chase goes on.
/incident vendor email V1
/reply sam.ortiz@northwind.example auto "I am out of the office until Monday 9 March with no access to email."
# An hour later Lee tells the customer the truth, and says which bad news it tells.
/clock +1h
/incident update told Acme Friday is at risk because the distributor has not shipped tells:B1 next:"fri 12:00"
# Thursday afternoon. Two unanswered chases, and half of the three business days Northwind's ladder has to reach its
# top: V1 climbs to Northwind's channel manager (bad news B2, since the promise needs it). Friday morning Lee sends
# the bot's own draft: the "Update sent" button, typed.
/clock +1d21h
/incident update sent B2
/clock +4h
# The weekend passes. The promise is missed on Friday evening (B3). Monday 09:00, three business days after the
# due time, V1 reaches Northwind's VP; Lee's update comes late in the day.
/clock +3d
/incident update told Acme we missed Friday, the distributor's VP has it since this morning, Plan B is priced tells:all next:"wed 12:00"
/clock +2d
/incident update told Acme the distributor's VP has been asked directly; Plan B goes ahead Monday tells:all next:"mon 12:00"
# Still silence, even from Northwind's VP: after two more chases, Plan B.
/clock +5d
/incident vendor cancel V1 bought the unit from Contoso Supply instead (Plan B)
/incident vendor "Contoso Supply" "replacement router delivered to DC-3" due:1d ref:PO-88120
/incident update told Acme we bought the router elsewhere; on site tomorrow morning tells:all next:"tue 12:00"
/clock +20h
/incident vendor done V2 delivered and racked at DC-3
/incident resolve DC-3 back on the new router; full shipping capacity
/incident update told Acme DC-3 is back at full capacity; the review follows this week
/incident lesson the partner depends on a single distributor; nothing moved for two weeks
/incident action "qualify a second distributor for edge routers" owner:@lee due:2w
/incident action "keep one spare edge router per distribution centre" owner:@dana due:30d
/incident scorecard
/as @dana
/incident close outcome:"Acme kept DC-3 running on the backup link; the renewal is at risk until the review"
"""

SECOND_ACT = """\
# Act two, a week on: the carrier that tried to hand its root-cause analysis to the customer's own expert.
# Forty Globex stores lose their circuit. The carrier's ticket, our own network team and the root cause are three
# asks, each on its own clock: Tailspin restores every 2 hours, our team every 2 hours, the root cause once a
# business day.
/clock +7d
/as @dana
/incident open "Carrier outage at Globex stores" sev:2 customer:Globex playbook:service-provider-outage impact:"40 stores on 4G backup links" cost:1200/h
/incident role comms @lee
/incident set doing:"getting the carrier to restore the circuit, with every store on 4G backup meanwhile"
/incident vendor tailspin "restore the Leeds circuit" due:4h ref:TS-5521
/incident ask @network-eng "confirm every store failed over to 4G" due:1h
/incident rca tailspin "root-cause analysis of the Leeds outage" due:3bd owner:@dana
# The promise to Globex depends on the root cause arriving.
/incident commit "root-cause report to Globex" due:5bd needs:V3
# Our own team is silent: chased, then up its ladder to its manager.
/clock +5h
/incident vendor done V2 all 40 stores confirmed on 4G
/incident vendor done V1 circuit restored at 14:10
/as @lee
/incident update told Globex the circuit is back; Tailspin owes us the root cause by Friday next:"tomorrow 12:00"
# Tailspin asks Globex's network lead to pull their own router logs: the analysis pushed onto the customer.
/as @dana
/incident rca pushed "asked Globex's network lead to pull their own router logs"
/incident rca heard Tailspin withdrew the request; their NOC pulls the logs
# Tuesday night the circuit is back, but the root cause is not: Lee sends the bot's draft the next evening.
/clock +1d
/as @lee
/incident update sent as drafted
# Friday. The analysis is late: chased once a business day, and the promise that needs it is at risk at once (B1).
# Nobody has told Globex yet, and the customer update is overdue; Dana does not wait for Tailspin's ladder.
/clock +2d
/as @dana
/incident vendor escalate V3 the root cause is late and Globex's promise hangs on it
# The war room is left open at this moment: `warroom dashboard` shows it.
"""


async def run_demo(settings: Settings, out: TextIO) -> int:
    """Replay the story on a database of its own; print the transcript, then INC-1's summary and INC-2's so far.

    The real database (WARROOM_DATABASE_URL) is left alone; the demo's is kept in warroom-demo.db, replaced by each
    run, so that `warroom dashboard` shows its war rooms afterwards: INC-2 is left open at the moment the story stops."""
    from bot.app import console

    with tempfile.TemporaryDirectory(prefix="warroom-demo-") as folder:
        # Built aside and moved into place at the end: an interrupted demo never leaves half a story behind.
        building = Path(folder) / "demo.db"
        demo = replace(settings, database_url=f"sqlite:///{building}", timezone="America/Chicago")
        clock = SimClock(START)
        async with console(demo, out, clock, user="dana", echo=True) as (app, session):
            out.write("Warroom demo: the RMA that sat for two months, replayed in simulated time.\n")
            await session.run(SCRIPT.splitlines())
            out.write("\n" + "=" * 100 + "\nAct two: the provider that pushed its root cause onto the customer.\n")
            await session.run(SECOND_ACT.splitlines())
            async with app.db.transaction() as store:
                closed = await store.summary(1)
                second = await store.get_incident(2)
                draft = None
                if second.state is not IncidentState.CLOSED:
                    cadence = app.playbooks.get(second.playbook).update_cadence
                    draft = to_markdown(await build_summary(store, second, cadence))
        if closed is None or draft is None:
            out.write("\nThe demo did not reach the moment it stops at.\n")
            return 1
        out.write("\n" + "=" * 100 + "\nThe lessons-learned summary (warroom summary INC-1):\n\n" + closed[0])
        out.write(
            "\n" + "=" * 100 + "\nINC-2 is left open at this moment; its summary so far (warroom summary INC-2):\n\n"
        )
        out.write(draft)
        shutil.move(building, DEMO_DATABASE)
    out.write(
        f"\nThe demo's war rooms are kept in {DEMO_DATABASE}: `warroom dashboard` shows them at the moment the demo stops"
        " — INC-2 open, its customer update overdue, its root cause escalated and bad news not yet told (or `warroom"
        " dashboard --demo`, once warroom.db has open incidents of its own).\n"
    )
    return 0


async def demo_moment(settings: Settings) -> datetime | None:
    """When the demo's story stops (its last event), read from the demo's database; None when it holds none."""
    from bot.store import Database

    db = Database(settings.database_url)
    try:
        async with db.read() as store:
            return await store.latest_event_at()
    finally:
        await db.dispose()
