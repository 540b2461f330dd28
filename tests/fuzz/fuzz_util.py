"""What the fuzz harnesses share: a memory cap, the exceptions a target may raise, and how a
finding is reported.

By default a finding (an exception the target must not raise, or a ValueError that does not
name the file) is raised, so atheris stops and prints it: that is how the CI run fails. With
GREBE_FUZZ_LOG=<path> every distinct finding is appended to <path> as a JSON line instead and
fuzzing goes on (the long survey run). A crash or a hang stops atheris in both modes."""
from __future__ import annotations

import json
import os
import re
import resource
import sys

_seen: set = set()


def limit_memory(mb: int = 2048) -> None:
    """Caps the address space, so an allocation driven by a hostile size fails with MemoryError
    (a finding) instead of swapping the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = mb << 20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _signature(target: str, exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    msg = re.sub(r"\d+", "N", msg)[:160]
    return f"{target}: {type(exc).__name__}: {msg}"


def finding(target: str, exc: BaseException, note: str = "") -> None:
    log = os.environ.get("GREBE_FUZZ_LOG")
    if not log:
        raise AssertionError(f"fuzz finding in {target}{note}: {type(exc).__name__}: {exc}") \
            from exc
    sig = _signature(target, exc) + note
    if sig in _seen:
        return
    _seen.add(sig)
    with open(log, "a") as f:
        f.write(json.dumps({"target": target, "type": type(exc).__name__, "note": note,
                            "message": str(exc)[:600]}) + "\n")
    print(f"FINDING {sig}", file=sys.stderr, flush=True)
