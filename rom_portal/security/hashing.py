"""Password hashing off the event loop, in a small capped pool of its own.

argon2 is slow on purpose (~18 ms); a few threads keep logins from starving every other page.
"""

from __future__ import annotations

import anyio
import anyio.to_thread

from rom_portal.security.passwords import Verification, hash_password, verify_password


class Hasher:
    def __init__(self, threads: int) -> None:
        self._limiter = anyio.CapacityLimiter(threads)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(hash_password, password, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> Verification:
        return await anyio.to_thread.run_sync(verify_password, password_hash, password, limiter=self._limiter)
