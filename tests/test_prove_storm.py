"""The storm's driver (prove/storm.py) speaks HTTP/1.1 itself: it must read every kind of answer
the API gives whole (204 with no body, a JSON 503, a chunked body), keep its connection for the
next callback, and count an answer that never comes as a timeout, not as an answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from prove import storm
from prove.storm import NO_CONNECTION, TIMED_OUT, Lane

OVERLOADED = b'{"error":{"code":"overloaded","message":"the server is busy"}}'
ANSWERS = {
    b"/204": b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n",
    b"/503": (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"retry-after: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(OVERLOADED), OVERLOADED)
    ),
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    ),
    b"/close": b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
}


async def _serve(connections: list[int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                path = head.split(b" ")[1]
                if path == b"/never":
                    await asyncio.sleep(60)
                writer.write(ANSWERS[path])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _run(test: Callable[[str, list[int]], Awaitable[None]]) -> None:
    async def main() -> None:
        connections: list[int] = []
        server = await _serve(connections)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await test(f"http://127.0.0.1:{port}", connections)

    asyncio.run(main())


def test_every_kind_of_answer_is_read_whole_on_one_kept_connection() -> None:
    async def test(url: str, connections: list[int]) -> None:
        lane = Lane(url)
        statuses = []
        for path in ("/204", "/503", "/chunked", "/204", "/503"):
            request = storm._request(url, path, "MessageSid=SM1", "sig")
            statuses.append((await lane.post(request))[0])
        lane.close()
        assert statuses == [204, 503, 200, 204, 503]
        assert len(connections) == 1

    _run(test)


def test_a_connection_the_server_closes_is_not_used_again() -> None:
    async def test(url: str, connections: list[int]) -> None:
        lane = Lane(url)
        for path in ("/close", "/204"):
            assert (await lane.post(storm._request(url, path, "a=1", "sig")))[0] == 204
        lane.close()
        assert len(connections) == 2

    _run(test)


def test_an_answer_that_never_comes_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storm, "TWILIO_TIMEOUT", 0.2)

    async def test(url: str, connections: list[int]) -> None:
        lane = Lane(url)
        status, _, seconds = await lane.post(storm._request(url, "/never", "a=1", "sig"))
        lane.close()
        assert status == TIMED_OUT
        assert 0.2 <= seconds < 5

    _run(test)


def test_no_server_is_no_connection() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        url = f"http://127.0.0.1:{port}"
        status, _, _ = await Lane(url).post(storm._request(url, "/204", "a=1", "sig"))
        assert status == NO_CONNECTION

    asyncio.run(main())
