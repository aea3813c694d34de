"""Password hashing for the gateway, off the event loop and at most N hashes at once.

A plain password never leaves the gateway. For a sign-up the gateway sends the argon2id hash;
for a login it sends a verifier: the argon2id hash of the given password with the account's
salt and cost, which the gatekeeper compares with the stored hash. The salt of an account is
derived from the installation's random secret and the uid, so the gateway can compute a
verifier before the account's sign-up has been applied, and sign-up and login of one account
travel through auth.fifo in order without a plain password in the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret

HASH_LENGTH = 32
_PARAMS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


@dataclass(frozen=True, slots=True)
class Cost:
    time_cost: int
    memory_kib: int
    parallelism: int


def cost_of(encoded: str | None) -> Cost | None:
    """Return the cost parameters of an encoded argon2id hash, or None if it is not one."""
    match = _PARAMS.match(encoded or "")
    if match is None:
        return None
    memory, time_cost, parallelism = (int(group) for group in match.groups())
    return Cost(time_cost=time_cost, memory_kib=memory, parallelism=parallelism)


class PasswordHasher:
    """Computes argon2id hashes on a thread pool of `concurrency` threads."""

    def __init__(self, install_salt: str, cost: Cost, concurrency: int = 2) -> None:
        self._install_salt = install_salt.encode()
        self.cost = cost
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="argon2")

    def salt_for(self, uid: str) -> bytes:
        return hashlib.sha256(self._install_salt + b"\0" + uid.encode()).digest()[:16]

    def _hash(self, uid: str, password: str, cost: Cost) -> str:
        return hash_secret(
            password.encode(),
            self.salt_for(uid),
            time_cost=cost.time_cost,
            memory_cost=cost.memory_kib,
            parallelism=cost.parallelism,
            hash_len=HASH_LENGTH,
            type=Type.ID,
        ).decode()

    async def hash(self, uid: str, password: str, cost: Cost | None = None) -> str:
        """Return the encoded argon2id hash of `password` for account `uid`.

        With `cost`, hash at that cost (to verify against a hash stored at an older setting).
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hash, uid, password, cost or self.cost)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
