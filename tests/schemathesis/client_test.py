"""A client generated from the daemon's OpenAPI document (openapi-python-client)
creates a swarm, scales it and reads its events.

tests/schemathesis/run.sh generates the package `hive_client` into a temporary
directory on PYTHONPATH and runs this with HIVE_URL and HIVE_TOKEN set. It uses
only what the generator derives from the document: if an operation, a body or
a response schema changes, the generated client changes with it, and this
test says where.
"""

import os
import sys
import time
import unittest

from hive_client import AuthenticatedClient
from hive_client.api.agents import list_agents, scale
from hive_client.api.events import swarm_events
from hive_client.api.swarms import create_swarm, swarm_status
from hive_client.models import ConfigFormat, ScaleBody, TextSource

SWARM_TOML = """
name = "pyclient"

[[agents]]
name = "crew"
backend = "mock"
replicas = 1
"""


class GeneratedClientTest(unittest.TestCase):
    def setUp(self):
        self.client = AuthenticatedClient(
            base_url=os.environ["HIVE_URL"], token=os.environ["HIVE_TOKEN"], raise_on_unexpected_status=True
        )

    def test_create_scale_and_read_events(self):
        with self.client as c:
            created = create_swarm.sync_detailed(client=c, body=TextSource(content=SWARM_TOML, format_=ConfigFormat.TOML))
            self.assertEqual(created.status_code, 201, created.content)
            status = swarm_status.sync_detailed(client=c, name="pyclient")
            self.assertEqual(status.status_code, 200, status.content)

            scaled = scale.sync_detailed(client=c, name="pyclient", base="crew", body=ScaleBody(count=3))
            self.assertEqual(scaled.status_code, 200, scaled.content)

            deadline = time.monotonic() + 20
            while True:
                agents = list_agents.sync_detailed(client=c, name="pyclient")
                self.assertEqual(agents.status_code, 200, agents.content)
                if len(agents.parsed.to_dict()["agents"]) == 3:
                    break
                self.assertLess(time.monotonic(), deadline, f"3 members never listed: {agents.content!r}")
                time.sleep(0.1)

            # One member started with the swarm, two more by the scale.
            deadline = time.monotonic() + 20
            while True:
                events = swarm_events.sync_detailed(client=c, name="pyclient")
                self.assertEqual(events.status_code, 200, events.content)
                types = [e["event_type"] for e in events.parsed.to_dict()["events"]]
                if "swarm_started" in types and types.count("agent_started") >= 3:
                    break
                self.assertLess(time.monotonic(), deadline, f"no swarm_started and 3 agent_started: {types}")
                time.sleep(0.1)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
