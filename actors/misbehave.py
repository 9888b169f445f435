#!/usr/bin/env python3
"""Hive test agent: misbehaves on purpose, for the runtime's fault tests.

Usage: ``python3 actors/misbehave.py MODE [N]``

Modes (where a mode "serves like echo" it answers tasks exactly as
actors/echo.py does, ready line and settings included):

- ``huge-line``: ready, then one 10 MiB line (a JSON ``log`` object, written
  in pieces, the newline only at the very end), then a ``result`` (content =
  the task content, no tokens) for every task after that.
- ``bad-utf8``: ready, then a line of invalid UTF-8 bytes, then serves like echo.
- ``garbage``: ready, then several lines of random bytes including NUL, then
  serves like echo.
- ``close-stdout``: ready, then closes stdout (fd 1) and keeps running: reads
  stdin until EOF, ignoring everything (``shutdown`` included), then sleeps
  for ever. Only a signal ends it.
- ``ignore-sigterm``: ready, ignores SIGTERM and ``shutdown`` lines (and every
  other line: reads stdin, answers nothing), sleeps for ever. Only SIGKILL
  ends it.
- ``fork-grandchildren``: ready, starts three ``sleep 1000`` children in its
  own process group (the default: no setsid, and they inherit its stdin,
  stdout and stderr), logs ``grandchildren <pid> <pid> <pid>`` and exits 0 at
  once, leaving them behind for the runtime to kill with the group.
- ``exit-now``: exits with code 3 at once, printing nothing.
- ``stderr``: ready, three lines on stderr, then serves like echo.
- ``slow-ready N``: waits N ms, then ready, then serves like echo.
- ``crash-after N``: serves like echo, but exits with code 1 (without an
  answer) when the N-th task starts.
- ``flood N``: ready, then N MiB of plain-text (not JSON) stdout lines of
  1 KiB each, written as fast as the pipe takes them, then a ``log`` line
  ``flood done: N MiB`` at info, then serves like echo.

An unknown mode or a bad N: a message on stderr, exit code 2.
"""

import os
import random
import signal
import subprocess
import sys
import time

import echo

USAGE = (
    "usage: misbehave.py MODE [N]\n"
    "modes: huge-line bad-utf8 garbage close-stdout ignore-sigterm fork-grandchildren\n"
    "       exit-now stderr slow-ready N crash-after N flood N\n"
)
HUGE_LINE_BYTES = 10 * 1024 * 1024


def sleep_forever():
    while True:
        time.sleep(3600)


def raw_out(data):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# ---------------------------------------------------------------- modes


def huge_line(_):
    echo.ready()
    head = b'{"type":"log","level":"info","message":"'
    tail = b'"}\n'
    filler = HUGE_LINE_BYTES - len(head) - len(tail)
    raw_out(head)
    piece = b"x" * (64 * 1024)
    while filler > 0:
        raw_out(piece[:filler])
        filler -= len(piece)
    raw_out(tail)
    for raw in iter_input():
        obj, problem = echo.parse(raw)
        if obj is None:
            if problem:
                echo.log("warning", problem)
        elif obj["type"] == "shutdown":
            return 0
        elif obj["type"] == "task" and obj.get("id") is not None:
            content = echo.as_text(obj.get("content", ""))
            echo.emit({"type": "result", "id": obj["id"], "content": content})
    return 0


def iter_input():
    """Input lines (or echo.TooLong) until EOF, without a thread."""
    return echo.read_lines(0, echo.DEFAULT_MAX_LINE_BYTES)


def bad_utf8(_):
    echo.ready()
    raw_out(b"\xff\xfe invalid \xc3\x28 utf-8 \xed\xa0\x80 \x80\xbf\n")
    return echo.serve()


def garbage(_):
    echo.ready()
    rng = random.Random()
    for _ in range(5):
        junk = bytearray(rng.randbytes(200))
        junk = junk.replace(b"\n", b"\x00")
        junk[rng.randrange(len(junk))] = 0  # at least one NUL per line
        junk[0] = 0xFF  # never valid JSON, never valid UTF-8
        raw_out(bytes(junk) + b"\n")
    return echo.serve()


def close_stdout(_):
    echo.ready()
    sys.stdout.flush()
    os.close(1)
    sys.stdout = None  # nothing may write to fd 1 again (a later open() could reuse it)
    for _ in iter_input():
        pass
    sleep_forever()


def ignore_sigterm(_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    echo.ready()
    for _ in iter_input():
        pass  # shutdown and everything else: ignored
    sleep_forever()


def fork_grandchildren(_):
    echo.ready()
    kids = [subprocess.Popen(["sleep", "1000"]) for _ in range(3)]
    echo.log("info", "grandchildren " + " ".join(str(k.pid) for k in kids))
    sys.stdout.flush()
    os._exit(0)  # at once: no waiting for, or warning about, the children


def exit_now(_):
    os._exit(3)


def stderr(_):
    echo.ready()
    for i in range(1, 4):
        sys.stderr.write("misbehave: stderr line %d\n" % i)
    sys.stderr.flush()
    return echo.serve()


def slow_ready(ms):
    time.sleep(ms / 1000.0)
    echo.ready()
    return echo.serve()


def crash_after(n):
    seen = [0]

    def before_task(_task):
        seen[0] += 1
        if seen[0] >= n:
            sys.stdout.flush()
            os._exit(1)

    echo.ready()
    return echo.serve(before_task=before_task)


FLOOD_LINE = b"f" * 1023 + b"\n"


def flood(mib):
    echo.ready()
    chunk = FLOOD_LINE * 256  # 256 KiB
    for _ in range(mib * 4):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    echo.log("info", "flood done: %d MiB" % mib)
    return echo.serve()


MODES = {
    "huge-line": (huge_line, False),
    "bad-utf8": (bad_utf8, False),
    "garbage": (garbage, False),
    "close-stdout": (close_stdout, False),
    "ignore-sigterm": (ignore_sigterm, False),
    "fork-grandchildren": (fork_grandchildren, False),
    "exit-now": (exit_now, False),
    "stderr": (stderr, False),
    "slow-ready": (slow_ready, True),
    "crash-after": (crash_after, True),
    "flood": (flood, True),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in MODES:
        what = "no mode given" if len(argv) < 2 else "unknown mode %r" % argv[1]
        sys.stderr.write("misbehave.py: %s\n%s" % (what, USAGE))
        return 2
    run, needs_n = MODES[argv[1]]
    n = None
    if needs_n:
        try:
            n = int(argv[2])
            if n < 0 or (argv[1] == "crash-after" and n < 1):
                raise ValueError
        except (IndexError, ValueError):
            sys.stderr.write("misbehave.py: %s needs a number N\n%s" % (argv[1], USAGE))
            return 2
    return run(n)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
