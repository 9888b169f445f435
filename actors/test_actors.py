"""Tests of the reference JSONL agents, run as real subprocesses.

    python3 -m unittest discover -s actors -p 'test_*.py'

Every test has a deadline: a hung agent fails the test instead of hanging CI.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE = 10.0  # seconds, per test


def script(name):
    return os.path.join(HERE, name)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "ECHO_", "RELAY_"))}
    env.update(extra)
    return env


def line(**obj):
    return json.dumps(obj) + "\n"


def run(program, lines, args=(), **env):
    """Feed ``lines`` (strings or bytes) and close stdin; return (rc, parsed stdout lines)."""
    data = b"".join(x if isinstance(x, bytes) else x.encode() for x in lines)
    p = subprocess.run(
        [sys.executable, script(program), *args],
        input=data,
        capture_output=True,
        timeout=DEADLINE,
        env=clean_env(**env),
    )
    return p.returncode, parse_all(p.stdout)


def parse_all(out):
    """Every stdout line must be one UTF-8 JSON object with a string type."""
    objs = []
    for raw in out.split(b"\n")[:-1]:
        obj = json.loads(raw.decode("utf-8"))
        assert isinstance(obj, dict) and isinstance(obj.get("type"), str), raw
        objs.append(obj)
    assert out == b"" or out.endswith(b"\n"), "last line not newline-terminated"
    return objs


def of_type(objs, kind):
    return [o for o in objs if o["type"] == kind]


class Live:
    """An agent we talk to line by line."""

    def __init__(self, program, args=(), **env):
        self.p = subprocess.Popen(
            [sys.executable, script(program), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=clean_env(**env),
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.p.stdout:
            self.lines.put(json.loads(raw))
        self.lines.put(None)

    def send(self, **obj):
        self.p.stdin.write(line(**obj).encode())
        self.p.stdin.flush()

    def expect(self, pred, what):
        """Read lines until one matches ``pred``; return (it, lines before it)."""
        deadline = time.monotonic() + DEADLINE
        seen = []
        while True:
            try:
                obj = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("timed out waiting for %s; saw %r" % (what, seen))
            if obj is None:
                raise AssertionError("stdout closed while waiting for %s; saw %r" % (what, seen))
            if pred(obj):
                return obj, seen
            seen.append(obj)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(DEADLINE)
        self.p.stdin.close()
        self.p.stdout.close()


class EchoTest(unittest.TestCase):
    def test_ready_first_then_env_at_debug(self):
        rc, out = run("echo.py", [line(type="shutdown")], HIVE_AGENT="a1", HIVE_SWARM="s1",
                      HIVE_MODEL="m1", HIVE_SKILLS="skills/x.md")
        self.assertEqual(rc, 0)
        self.assertEqual(out[0], {"type": "ready", "capabilities": ["echo"]})
        self.assertEqual(out[1]["type"], "log")
        self.assertEqual(out[1]["level"], "debug")
        for part in ("HIVE_AGENT=a1", "HIVE_SWARM=s1", "HIVE_MODEL=m1", "HIVE_SKILLS=skills/x.md"):
            self.assertIn(part, out[1]["message"])

    def test_task_streams_one_token_per_word_then_result(self):
        content = "  hello   world\tand\nmore  "
        rc, out = run("echo.py", [line(type="task", id="t1", content=content, **{"from": "user"})])
        self.assertEqual(rc, 0)  # end of stdin is a clean exit too
        tokens = of_type(out, "token")
        self.assertEqual(len(tokens), 4)
        self.assertTrue(all(t["id"] == "t1" for t in tokens))
        self.assertEqual("".join(t["content"] for t in tokens), content)
        self.assertEqual(of_type(out, "result"), [{"type": "result", "id": "t1", "content": content}])
        self.assertEqual(out[-1]["type"], "result")

    def test_tasks_are_answered_in_order(self):
        lines = [line(type="task", id=str(i), content="w%d x" % i, **{"from": "user"}) for i in range(5)]
        rc, out = run("echo.py", lines + [line(type="shutdown")])
        self.assertEqual([r["id"] for r in of_type(out, "result")], ["0", "1", "2", "3", "4"])

    def test_message_is_logged_at_info(self):
        rc, out = run("echo.py", [line(type="message", id="m1", content="psst", **{"from": "planner"})])
        logs = [o for o in of_type(out, "log") if o["level"] == "info"]
        self.assertEqual(len(logs), 1)
        self.assertIn("psst", logs[0]["message"])
        self.assertIn("planner", logs[0]["message"])

    def test_bad_lines_get_a_warning_and_the_agent_keeps_serving(self):
        bad = [b"not json\n", b"\xff\xfe\x00garbage\n", b"[1,2]\n", b'{"type":"nope"}\n',
               b'{"no":"type"}\n', b'{"type":"task","content":"no id"}\n', b"[" * 100000 + b"\n"]
        rc, out = run("echo.py", bad + [line(type="task", id="ok", content="fine", **{"from": "user"})])
        self.assertEqual(rc, 0)
        warnings = [o for o in of_type(out, "log") if o["level"] == "warning"]
        self.assertEqual(len(warnings), len(bad))
        self.assertEqual(of_type(out, "result"), [{"type": "result", "id": "ok", "content": "fine"}])

    def test_over_long_line_is_discarded_with_a_warning(self):
        rc, out = run("echo.py", [b"x" * 5000 + b"\n", line(type="task", id="1", content="after")],
                      ECHO_MAX_LINE_BYTES="1000")
        warnings = [o for o in of_type(out, "log") if o["level"] == "warning"]
        self.assertEqual(len(warnings), 1)
        self.assertIn("5000", warnings[0]["message"])
        self.assertEqual(of_type(out, "result")[0]["content"], "after")

    def test_shutdown_exits_zero_and_ignores_what_follows(self):
        rc, out = run("echo.py", [line(type="shutdown"), line(type="task", id="late", content="x")])
        self.assertEqual(rc, 0)
        self.assertEqual(of_type(out, "result"), [])

    def test_cancel_stops_a_streaming_task(self):
        agent = Live("echo.py", ECHO_TOKEN_DELAY_MS="200")
        try:
            agent.expect(lambda o: o["type"] == "ready", "ready")
            agent.send(type="task", id="long", content="a b c d e f g h i j", **{"from": "user"})
            agent.expect(lambda o: o["type"] == "token", "first token")
            agent.send(type="cancel", id="long")
            err, before = agent.expect(lambda o: o["type"] in ("error", "result"), "cancel answer")
            self.assertEqual(err, {"type": "error", "id": "long", "code": "cancelled",
                                   "message": "cancelled"})
            self.assertLess(len(of_type(before, "token")), 9)
            # still serving afterwards
            agent.send(type="task", id="next", content="ok", **{"from": "user"})
            res, _ = agent.expect(lambda o: o["type"] == "result", "next result")
            self.assertEqual(res["id"], "next")
            agent.send(type="shutdown")
            self.assertEqual(agent.p.wait(DEADLINE), 0)
        finally:
            agent.close()

    def test_cancel_of_a_task_waiting_behind_the_current_one(self):
        agent = Live("echo.py", ECHO_TOKEN_DELAY_MS="100")
        try:
            agent.expect(lambda o: o["type"] == "ready", "ready")
            agent.send(type="task", id="1", content="a b c d", **{"from": "user"})
            agent.send(type="task", id="2", content="never", **{"from": "user"})
            agent.expect(lambda o: o["type"] == "token", "first token")
            agent.send(type="cancel", id="2")
            err, _ = agent.expect(lambda o: o["type"] == "error", "cancel of task 2")
            self.assertEqual((err["id"], err["code"]), ("2", "cancelled"))
            res, seen = agent.expect(lambda o: o["type"] == "result", "result of task 1")
            self.assertEqual(res["id"], "1")
            agent.send(type="shutdown")
            self.assertEqual(agent.p.wait(DEADLINE), 0)
            self.assertFalse(any(o.get("id") == "2" for o in seen))
        finally:
            agent.close()


class RelayTest(unittest.TestCase):
    def test_message_is_broadcast_with_prefix(self):
        rc, out = run("relay.py", [line(type="message", id="m", content="hi", **{"from": "a"}),
                                   line(type="shutdown")], RELAY_PREFIX="fwd: ")
        self.assertEqual(rc, 0)
        self.assertEqual(out[0], {"type": "ready", "capabilities": ["relay"]})
        self.assertEqual(of_type(out, "broadcast"), [{"type": "broadcast", "content": "fwd: hi"}])

    def test_task_is_sent_to_relay_to_then_answered(self):
        rc, out = run("relay.py", [line(type="task", id="t", content="job", **{"from": "user"})],
                      RELAY_TO="worker")
        sends = of_type(out, "send")
        self.assertEqual(sends, [{"type": "send", "to": "worker", "content": "job"}])
        self.assertEqual(of_type(out, "result"), [{"type": "result", "id": "t", "content": "relayed"}])
        self.assertLess(out.index(sends[0]), out.index(of_type(out, "result")[0]))
        self.assertEqual(of_type(out, "broadcast"), [])

    def test_task_is_broadcast_without_relay_to(self):
        rc, out = run("relay.py", [line(type="task", id="t", content="job", **{"from": "user"})])
        self.assertEqual(of_type(out, "broadcast"), [{"type": "broadcast", "content": "job"}])
        self.assertEqual(of_type(out, "send"), [])
        self.assertEqual(of_type(out, "result")[0]["content"], "relayed")

    def test_denied_is_logged_as_warning_and_nothing_else(self):
        rc, out = run("relay.py", [line(type="denied", to="b", reason="no edge relay -> b")])
        self.assertEqual(rc, 0)
        after_start = out[2:]  # ready, debug env log
        self.assertEqual(len(after_start), 1)
        self.assertEqual(after_start[0]["type"], "log")
        self.assertEqual(after_start[0]["level"], "warning")
        self.assertIn("no edge relay -> b", after_start[0]["message"])

    def test_bad_line_gets_a_warning(self):
        rc, out = run("relay.py", [b"\x00\xff{oops\n", line(type="message", id="m", content="x")])
        self.assertEqual(rc, 0)
        self.assertEqual(of_type(out, "log")[-1]["level"], "warning")
        self.assertEqual(of_type(out, "broadcast"), [{"type": "broadcast", "content": "x"}])


class MisbehaveTest(unittest.TestCase):
    def test_exit_now_exits_3_silently(self):
        rc, out = run("misbehave.py", [], args=["exit-now"])
        self.assertEqual((rc, out), (3, []))

    def test_unknown_mode_exits_2(self):
        p = subprocess.run([sys.executable, script("misbehave.py"), "no-such-mode"],
                           capture_output=True, timeout=DEADLINE)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"no-such-mode", p.stderr)

    def test_crash_after_n_exits_1_without_answering_the_nth_task(self):
        tasks = [line(type="task", id=str(i), content="x") for i in (1, 2, 3)]
        rc, out = run("misbehave.py", tasks, args=["crash-after", "2"])
        self.assertEqual(rc, 1)
        self.assertEqual([r["id"] for r in of_type(out, "result")], ["1"])

    def test_flood_writes_n_mib_of_raw_lines_then_logs_done_and_serves(self):
        p = subprocess.run([sys.executable, script("misbehave.py"), "flood", "2"],
                           input=line(type="task", id="1", content="after").encode(),
                           capture_output=True, timeout=DEADLINE, env=clean_env())
        self.assertEqual(p.returncode, 0)
        lines = p.stdout.split(b"\n")[:-1]
        raw = [x for x in lines if not x.startswith(b"{")]
        self.assertEqual(len(raw), 2 * 1024)
        self.assertTrue(all(len(x) == 1023 for x in raw))
        objs = [json.loads(x) for x in lines if x.startswith(b"{")]
        self.assertEqual(objs[0]["type"], "ready")
        self.assertIn("flood done: 2 MiB", [o.get("message") for o in of_type(objs, "log")])
        self.assertEqual(of_type(objs, "result")[-1], {"type": "result", "id": "1", "content": "after"})


class StdioCounterTest(unittest.TestCase):
    """The reference object handler (handler = "stdio")."""

    def test_ready_with_config_state_then_replies_pushes_state_and_answers_state_requests(self):
        msgs = [
            line(type="message", id="m1", **{"from": "a"}, payload={"op": "add", "by": 5}),
            line(type="message", id="m2", **{"from": "a"}, payload="get"),
            line(type="state", id="s1"),
            line(type="message", id="m3", **{"from": "a"}, payload={"op": "nope"}),
            line(type="message", id="m4", **{"from": "kv"}, payload={"value": 1}, reply=True),
            line(type="message", id="m5", **{"from": "a"}, payload={"op": "forward", "to": "board"}),
            line(type="shutdown"),
        ]
        rc, out = run("stdio_counter.py", msgs, HIVE_OBJECT_CONFIG='{"start": 2}')
        self.assertEqual(rc, 0)
        self.assertEqual(out[0], {"type": "ready", "state": {"value": 2}})
        replies = {o["id"]: o for o in of_type(out, "reply")}
        self.assertEqual(replies["m1"]["payload"], {"value": 7})
        self.assertEqual(replies["m2"]["payload"], {"value": 7})
        self.assertEqual(replies["m5"]["payload"], {"value": 7})
        self.assertNotIn("m4", replies, "an answer to its own send is not answered")
        self.assertIn({"type": "state", "state": {"value": 7}}, out)
        self.assertIn({"type": "state", "id": "s1", "state": {"value": 7}}, out)
        self.assertEqual([o["id"] for o in of_type(out, "error")], ["m3"])
        self.assertEqual(of_type(out, "send"), [{"type": "send", "to": "board", "payload": {"value": 7}}])

    def test_muted_it_answers_no_state_request_and_a_bad_line_is_skipped(self):
        msgs = [b"not json\n", line(type="message", id="m1", **{"from": "a"}, payload="mute"), line(type="state", id="s1")]
        rc, out = run("stdio_counter.py", msgs)
        self.assertEqual(rc, 0)
        self.assertEqual(of_type(out, "state"), [])
        self.assertEqual(of_type(out, "reply")[0]["payload"], {"value": 0})


if __name__ == "__main__":
    unittest.main()
