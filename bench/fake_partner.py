"""A fake partner for the confirmation-engine benchmark: answers every POST after a fixed delay with Digiledge's
Payment Status answer "Successful" (the Payment Notification's shape, docs/channels/digiledge.md).

asyncio rather than a thread per request (tests/fakes/server.py): thousands of requests a second that each wait
50 ms must not cost the 2 cores the server under test needs. HTTP/1.1 with keep-alive, as a real partner.

    .venv/bin/python bench/fake_partner.py --port 8765 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json


def answer(ref_id: str) -> bytes:
    body = json.dumps(
        {
            "refId": ref_id,
            "status": "Successful",
            "reason": "",
            "ack": {
                "api": "PAYMENT_RESPONSE",
                "refId": ref_id,
                "msgId": "BENCH",
                "rspCd": "000",
                "ts": "2026-11-23T10:15:00+05:30",
                "errorMessages": [],
            },
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return head + body


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            try:
                ref_id = str(json.loads(body).get("refId", ""))
            except ValueError:
                ref_id = ""
            await asyncio.sleep(delay)
            writer.write(answer(ref_id))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    arguments = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, arguments.delay), "127.0.0.1", arguments.port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
