"""`warroom demo`: the RMA that sat for two months, replayed in simulated time through the console adapter."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.clock import SimClock
from bot.config import Settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/Chicago"))  # a Monday; US clocks change on the 8th

SCRIPT = """\
# Monday morning. An edge router at Acme Retail's distribution centre is dead; the replacement must come
# through the partner's only distributor, Northwind. Dana opens the war room and states the stakes.
/as @dana
/incident open "Edge router failed at Acme Retail DC-3" sev:2 customer:"Acme Retail" playbook:hardware-rma impact:"DC-3 ships on a 4G backup link at a third of its capacity" cost:2500/h at-risk:2M
/incident role comms @lee
/incident note RMA 4471 filed with the partner; Northwind holds the only stock in the region
/incident vendor northwind "tracking number for the replacement router" due:2d ref:RMA-4471 owner:@lee
/incident commit "replacement router on site at DC-3" due:"fri 17:00"
# Lee owns the customer: the first update goes out within the hour.
/as @lee
/incident update told Acme the router failed, RMA 4471 is with the distributor, next update Wednesday noon next:"wed 12:00"
# Wednesday. Northwind is late and silent: the bot chases Lee, then prompts the promised update with a draft.
/clock +2d3h
/incident update told Acme the distributor has not confirmed shipping yet and we are chasing daily next:"fri 12:00"
# Friday. Two unanswered chases: the follow-up climbs to Northwind's channel manager, and that is bad news.
/clock +1d22h
/incident update told Acme the distributor is silent, we escalated to its channel manager, Friday is at risk next:"fri 16:00"
/clock +4h
/incident update told Acme the router will not be on site today; we are pricing Plan B next:"mon 12:00"
# The weekend passes. The promise is missed on Friday evening, and Monday's update is late.
/clock +3d
/incident update told Acme we missed Friday, the distributor's VP is next, Plan B is priced next:"wed 12:00"
/clock +2d
/incident update told Acme the distributor's VP has been asked directly; Plan B goes ahead Monday next:"mon 12:00"
# Still silence, up to Northwind's VP. Past him: Plan B.
/clock +5d
/incident vendor cancel V1 bought the unit from Contoso Supply instead (Plan B)
/incident vendor "Contoso Supply" "replacement router delivered to DC-3" due:1d ref:PO-88120
/incident update told Acme we bought the router elsewhere; on site tomorrow morning next:"tue 12:00"
/clock +20h
/incident vendor done V2 delivered and racked at DC-3
/incident resolve DC-3 back on the new router; full shipping capacity
/incident update told Acme DC-3 is back at full capacity; the review follows this week
/incident lesson the partner depends on a single distributor; nothing moved for two weeks
/incident action "qualify a second distributor for edge routers" owner:@lee due:2w
/incident action "keep one spare edge router per distribution centre" owner:@dana due:30d
/incident scorecard
/as @dana
/incident close
"""


async def run_demo(settings: Settings, out: TextIO) -> int:
    """Replay the story on a throwaway database; print the transcript, then the summary as Markdown."""
    from bot.app import console

    with tempfile.TemporaryDirectory(prefix="warroom-demo-") as folder:
        demo = replace(settings, database_url=f"sqlite:///{Path(folder) / 'demo.db'}", timezone="America/Chicago")
        clock = SimClock(START)
        async with console(demo, out, clock, user="dana", echo=True) as (app, session):
            out.write("Warroom demo: the RMA that sat for two months, replayed in simulated time.\n")
            await session.run(SCRIPT.splitlines())
            async with app.db.transaction() as store:
                stored = await store.summary(1)
        if stored is None:
            out.write("\nThe demo did not reach its summary.\n")
            return 1
        out.write("\n" + "=" * 100 + "\nThe lessons-learned summary (warroom summary INC-1):\n\n" + stored[0])
    return 0
