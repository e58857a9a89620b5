"""Whether a revoked link and an unknown token can be told apart by time: both must be the same 404, as fast.

Run: python bench/customer_page_404.py [--requests 400] [--postgres postgresql://postgres@127.0.0.1:5432/test]

An incident is opened through real commands with 20 links to its page, half of them revoked; the app is served on
127.0.0.1 and GET /c/<token> is timed over HTTP, alternating one request with a random token (the floor: a token
that never existed) and one with a revoked link's token, after warm-up requests. Prints the median and the 90th
percentile of each and the ratio revoked/unknown (1.00 is no difference), and checks both bodies are identical.
`--postgres ''` skips PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from on_databases import add_postgres_argument, on_each_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.memory import InMemoryChat  # noqa: E402
from bot.app import running, web_app  # noqa: E402
from bot.chat import Invocation, RoomRef, UserRef  # noqa: E402
from bot.clock import SimClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.render import plain_text  # noqa: E402
from bot.share import new_token  # noqa: E402
from bot.store import Database  # noqa: E402

LINKS = 20


async def measure(database_url: str, requests: int) -> dict[str, float]:
    settings = Settings(database_url=database_url, playbooks_dir=ROOT / "playbooks")
    schema = Database(database_url)
    await schema.upgrade()  # a scratch PostgreSQL database starts empty
    await schema.dispose()
    clock = SimClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    async with running(settings, chat=InMemoryChat(), clock=clock) as app:
        lobby = RoomRef("C-LOBBY", "general")

        async def say(text: str, room: RoomRef) -> tuple[str, RoomRef]:
            reply = await app.warroom.handle(Invocation(text, UserRef("dana", "dana"), room))
            assert reply.ok, [m.title for m in reply.messages]
            return "\n".join(plain_text(m) for m in reply.messages), (reply.rooms_opened or (room,))[-1]

        _, room = await say('open "Edge router failed" sev:2 customer:"Acme Retail" playbook:hardware-rma', lobby)
        tokens = []
        for _ in range(LINKS):
            said, _ = await say("share", room)
            found = re.search(r"/c/([A-Za-z0-9_-]+)", said)
            assert found is not None
            tokens.append(found.group(1))
        for n in range(1, LINKS // 2 + 1):
            await say(f"share revoke {n}", room)
        revoked = tokens[: LINKS // 2]
        runner = web.AppRunner(web_app(app), shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        times: dict[str, list[float]] = {"unknown": [], "revoked": []}
        bodies: dict[str, set[str]] = {"unknown": set(), "revoked": set()}
        try:
            async with aiohttp.ClientSession() as http:
                for i in range(requests + 20):
                    for kind in ("unknown", "revoked") if i % 2 == 0 else ("revoked", "unknown"):
                        token = new_token() if kind == "unknown" else revoked[i % len(revoked)]
                        started = time.perf_counter()
                        async with http.get(f"{base}/c/{token}") as response:
                            body = await response.text()
                        took = (time.perf_counter() - started) * 1000
                        assert response.status == 404
                        bodies[kind].add(body)
                        if i >= 20:  # warm-up done
                            times[kind].append(took)
        finally:
            await runner.cleanup()
        assert bodies["unknown"] == bodies["revoked"] and len(bodies["unknown"]) == 1, "the 404s differ"
    out: dict[str, float] = {}
    for kind, found in times.items():
        found.sort()
        out[f"{kind}_median_ms"] = statistics.median(found)
        out[f"{kind}_p90_ms"] = found[int(len(found) * 0.9)]
    out["ratio"] = out["revoked_median_ms"] / out["unknown_median_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    add_postgres_argument(parser)
    args = parser.parse_args()

    async def one(url: str) -> tuple[str, dict[str, float]]:
        return url.split(":", 1)[0], await measure(url, args.requests)

    print("| database | unknown token (ms, median / p90) | revoked link (ms, median / p90) | revoked / unknown |")
    print("|---|---:|---:|---:|")
    for name, found in asyncio.run(on_each_database(args.postgres, one)):
        print(
            f"| {name} | {found['unknown_median_ms']:.2f} / {found['unknown_p90_ms']:.2f} "
            f"| {found['revoked_median_ms']:.2f} / {found['revoked_p90_ms']:.2f} | {found['ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
