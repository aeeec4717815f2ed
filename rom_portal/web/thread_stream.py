"""A download written by a worker thread and streamed as it is written, in bounded memory.

The producer (synchronous code: a database read and a zip writer) runs in a worker thread and writes to a
``ChunkPipe``, a write-only file that hands chunks of about 64 KiB to the event loop through a bounded stream.
When the stream is full the producer waits, so a slow reader slows the producer instead of filling memory.
When the reader goes away (the browser stops the download) the producer's next write fails and it stops, ending
its database transaction; so does a reader that takes nothing for ``stall_seconds``. A producer that fails
half-way makes the response fail too: the browser then reports a broken download, never a cut-off file as whole.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

log = logging.getLogger("rom_portal.download")

CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS = 4
STALL_SECONDS = 60.0


class ReaderGone(Exception):
    """The reader stopped taking chunks: it disconnected, or took nothing for too long."""


class ProducerFailed(Exception):
    """The producer stopped half-way; the response must not end as if the file were complete."""


class ChunkPipe:
    """Write-only and not seekable (``zipfile`` then writes data descriptors instead of seeking back)."""

    def __init__(self, *, chunk_bytes: int | None = None, stall_seconds: float | None = None) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[bytes](QUEUED_CHUNKS)
        self._buffer = bytearray()
        self._chunk_bytes = chunk_bytes or CHUNK_BYTES
        self._stall_seconds = stall_seconds or STALL_SECONDS
        self._done = False
        self.failure: BaseException | None = None

    # --- the producer's side, in a worker thread ------------------------------------------------------------

    def write(self, data: bytes) -> int:
        if self._done:  # a zip writer left behind by a failed producer, closing itself when collected
            return len(data)
        self._buffer += data
        if len(self._buffer) >= self._chunk_bytes:
            self._hand_over()
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a chunk goes when it is full, and the rest when the producer is done."""

    def _hand_over(self) -> None:
        chunk = bytes(self._buffer)
        self._buffer.clear()
        try:
            anyio.from_thread.run(self._put, chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, TimeoutError) as error:
            self._done = True  # what the producer still writes while it unwinds goes nowhere
            raise ReaderGone() from error

    async def _put(self, chunk: bytes) -> None:
        with anyio.fail_after(self._stall_seconds):
            await self._send.send(chunk)

    def _produce(self, produce: Callable[[ChunkPipe], None]) -> None:
        try:
            produce(self)
            if self._buffer:
                self._hand_over()
        except ReaderGone as gone:
            self.failure = gone
        except Exception as error:
            self.failure = error
            log.exception("a download failed half-way")
        finally:
            self._done = True
            self._buffer.clear()
            anyio.from_thread.run_sync(self._send.close)

    # --- the event loop's side ------------------------------------------------------------------------------

    async def run(self, produce: Callable[[ChunkPipe], None], limiter: anyio.CapacityLimiter) -> None:
        await anyio.to_thread.run_sync(self._produce, produce, limiter=limiter)

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._receive:
            yield chunk
        if self.failure is not None:
            raise ProducerFailed() from self.failure

    def stop(self) -> None:
        """The response is over: a producer still waiting to hand over a chunk is told the reader is gone."""
        self._receive.close()


class ThreadStreamResponse(StreamingResponse):
    """Streams what ``produce(pipe)`` writes in a worker thread (at most ``limiter``'s count at once)."""

    def __init__(
        self,
        produce: Callable[[ChunkPipe], None],
        *,
        limiter: anyio.CapacityLimiter,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        pipe: ChunkPipe | None = None,
    ) -> None:
        self.pipe = pipe or ChunkPipe()
        self.produce = produce
        self.limiter = limiter
        super().__init__(self.pipe.chunks(), media_type=media_type, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self.pipe.run, self.produce, self.limiter)
            try:
                await super().__call__(scope, receive, send)
            except ClientDisconnect:
                pass  # the browser stopped the download: nobody is left to tell
            except Exception as error:  # a failed producer: raised once the producer has stopped
                failure = error
            finally:
                self.pipe.stop()
        if failure is not None:
            raise failure
