"""SpawnedFake: a fake provider served by a child process (its own GIL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.request import Request, urlopen

if TYPE_CHECKING:
    from dovecote.testing.fakes.base import FakeProvider

#: Path prefix of the control requests a test sends to a spawned fake.
CONTROL_PREFIX = "/__fake__"


class SpawnedFake:
    """A fake provider served by a child process.

    The child runs ``python -m dovecote.testing.fakes.serve <name>``.

    Drive it over HTTP: :attr:`base_url`, :meth:`count`, :meth:`fail_next`,
    :meth:`set_latency`, :meth:`reset`; stop it with :meth:`stop` or ``with``.
    """

    def __init__(self, cls: type[FakeProvider], *, latency: float = 0.0) -> None:
        self.name = cls.name
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dovecote.testing.fakes.serve",
                cls.name,
                "--latency",
                str(latency),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[3],
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("listening "):
            self._proc.kill()
            raise RuntimeError(f"fake {cls.name} process did not start: {line!r}")
        self.base_url = line.split()[1]

    def _control(self, action: str, **params: Any) -> Any:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"{self.base_url}{CONTROL_PREFIX}/{action}?{query}"
        with urlopen(Request(url, method="POST"), timeout=10) as resp:
            return json.loads(resp.read())

    def count(self) -> int:
        """Return the number of requests the child received."""
        return int(self._control("stats")["count"])

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next ``n`` requests with ``status``."""
        self._control("fail", n=n, status=status)

    def set_latency(self, seconds: float) -> None:
        """Change the delay before each answer."""
        self._control("latency", seconds=seconds)

    def reset(self) -> None:
        """Forget requests and scripted answers."""
        self._control("reset")

    def stop(self) -> None:
        """Stop the child process."""
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
