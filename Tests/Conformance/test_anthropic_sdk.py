"""The official `anthropic` SDK (pinned in requirements.txt), unchanged, against a live Lessor:
every resource method of `client.beta.environments` and `.work`, errors mapped to the SDK's
exception classes, auto-pagination, the poller and the lease loop.

Run by Tests/LessorEndToEndTests/SDKConformanceTests.swift, which starts Redis and `lessor
serve` (default lease TTL 10 s, so the lease loop beats every 5 s) and sets LESSOR_URL and
LESSOR_ADMIN_TOKEN.
"""
import asyncio
import time
import unittest

import anthropic
from anthropic.lib.environments import _worker
from anthropic.types.beta import BetaEnvironmentArchivedError, BetaInvalidConfigTypeChangeError
from anthropic.types.beta.environments import BetaHeartbeatPreconditionFailedError

from lessor_fixture import ADMIN_TOKEN, URL, enqueue, token_for

PREFIX = "/v1/environments"


def client(**options):
    return anthropic.Anthropic(base_url=URL, auth_token=options.pop("auth_token", ADMIN_TOKEN), **options)


class Environments(unittest.TestCase):
    def test_create_retrieve_update_list_archive_delete(self):
        environments = client().beta.environments
        created = environments.create(name="fleet", description="gpu hosts", config={"type": "self_hosted"}, metadata={"team": "a", "zone": "eu"})
        self.assertEqual(created.type, "environment")
        self.assertEqual(created.config.type, "self_hosted")
        self.assertEqual(created.metadata, {"team": "a", "zone": "eu"})
        self.assertIsNone(created.archived_at)
        self.assertEqual(environments.retrieve(created.id).name, "fleet")

        updated = environments.update(created.id, name="fleet-2", description=None, metadata={"team": None, "zone": "", "tier": "1"})
        self.assertEqual((updated.name, updated.description, updated.metadata), ("fleet-2", None, {"tier": "1"}))
        self.assertGreater(updated.updated_at, created.updated_at)
        with self.assertRaises(BetaInvalidConfigTypeChangeError):
            environments.update(created.id, config={"type": "cloud", "networking": {"type": "unrestricted"}, "packages": {}})

        other = environments.create(name="default-type")
        self.assertEqual(other.config.type, "self_hosted", "Lessor's default: it serves self-hosted work")
        archived = environments.archive(other.id)
        self.assertIsNotNone(archived.archived_at)
        listed = [environment.id for environment in environments.list()]
        self.assertIn(created.id, listed)
        self.assertNotIn(other.id, listed, "archived environments are listed only with include_archived")
        self.assertIn(other.id, [environment.id for environment in environments.list(include_archived=True)])
        with self.assertRaises(BetaEnvironmentArchivedError) as archived_error:
            environments.update(other.id, name="late")
        self.assertEqual(archived_error.exception.error_code, "environment_archived")

        deleted = environments.delete(other.id)
        self.assertEqual((deleted.id, deleted.type), (other.id, "environment_deleted"))
        with self.assertRaises(anthropic.NotFoundError):
            environments.retrieve(other.id)

    def test_list_pages_automatically(self):
        environments = client().beta.environments
        made = [environments.create(name=f"page-{index}").id for index in range(5)]
        page = environments.list(limit=2)
        self.assertEqual(len(page.data), 2)
        self.assertTrue(page.has_next_page())
        every = [environment.id for environment in environments.list(limit=2)]
        self.assertEqual([id for id in every if id in made], made, "every environment once, in creation order")


class Work(unittest.TestCase):
    def setUp(self):
        self.anthropic = client(max_retries=2)
        self.environment = self.anthropic.beta.environments.create(name="work").id
        self.work = self.anthropic.beta.environments.work

    def test_every_resource_method(self):
        [item_id] = enqueue(PREFIX, self.environment, metadata={"k": "v"})
        polled = self.work.poll(self.environment, anthropic_worker_id="worker-1", block_ms=100)
        self.assertEqual(polled.id, item_id)
        self.assertEqual(polled.state, "queued")
        self.assertIsNone(polled.secret)
        self.assertIsNone(self.work.poll(self.environment, block_ms=10), "an empty long poll answers null")
        stats = self.work.stats(self.environment)
        self.assertEqual((stats.type, stats.depth, stats.pending, stats.workers_polling), ("work_queue_stats", 0, 1, 1))

        acked = self.work.ack(item_id, environment_id=self.environment)
        self.assertEqual(acked.state, "starting")
        first = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        self.assertEqual((first.type, first.state, first.lease_extended, first.ttl_seconds), ("work_heartbeat", "active", True, 10))
        second = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat=first.last_heartbeat, desired_ttl_seconds=30)
        self.assertGreater(second.last_heartbeat, first.last_heartbeat)
        self.assertEqual(second.ttl_seconds, 30)

        retrieved = self.work.retrieve(item_id, environment_id=self.environment)
        self.assertEqual((retrieved.latest_heartbeat_at, retrieved.state, retrieved.metadata), (second.last_heartbeat, "active", {"k": "v"}))
        patched = self.work.update(item_id, environment_id=self.environment, metadata={"k": None, "n": "1"})
        self.assertEqual(patched.metadata, {"n": "1"})
        self.assertEqual([item.id for item in self.work.list(self.environment)], [item_id])

        stopping = self.work.stop(item_id, environment_id=self.environment)
        self.assertEqual(stopping.state, "stopping")
        # While stopping, the expectation is not compared: the worker drains and hears "stopping".
        draining = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        self.assertEqual((draining.state, draining.lease_extended), ("stopping", True))
        stopped = self.work.stop(item_id, environment_id=self.environment, force=True)
        self.assertEqual(stopped.state, "stopped")
        self.assertIsNotNone(stopped.stopped_at)
        # A stopped item answers 200: the SDK's lease loop ends as stopped, not as lease lost.
        after = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat=first.last_heartbeat)
        self.assertEqual((after.state, after.lease_extended, after.ttl_seconds, after.last_heartbeat), ("stopped", False, 0, draining.last_heartbeat))

    def test_list_pages_automatically(self):
        made = enqueue(PREFIX, self.environment, count=25)
        first = self.work.list(self.environment, limit=10)
        self.assertEqual(len(first.data), 10)
        self.assertTrue(first.has_next_page())
        self.assertEqual([item.id for item in self.work.list(self.environment, limit=10)], made)

    def test_an_idempotency_key_answers_a_retried_write_again(self):
        # The SDK retries a POST after a 5xx or a lost connection with the same headers; with
        # an Idempotency-Key, Lessor answers the retry from the first call's record, not 412.
        [item_id] = enqueue(PREFIX, self.environment)
        self.work.ack(item_id, environment_id=self.environment, extra_headers={"Anthropic-Worker-ID": "worker-1"})
        beat = {"Anthropic-Worker-ID": "worker-1", "Idempotency-Key": "beat-1"}
        first = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT", extra_headers=beat)
        retried = self.work.with_raw_response.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT", extra_headers=beat)
        self.assertEqual(retried.headers["idempotent-replayed"], "true")
        self.assertEqual(retried.parse().last_heartbeat, first.last_heartbeat)
        with self.assertRaises(anthropic.ConflictError) as conflict:
            self.work.heartbeat(item_id, environment_id=self.environment, extra_headers=beat)
        self.assertEqual(conflict.exception.body["error"]["type"], "conflict_error")

    def test_errors_are_the_sdks_classes_with_request_ids(self):
        [item_id] = enqueue(PREFIX, self.environment)
        with self.assertRaises(anthropic.AuthenticationError) as unauthenticated:
            client(auth_token="not-a-token").beta.environments.work.stats(self.environment)
        self.assertTrue(unauthenticated.exception.request_id)
        # x-api-key, as the SDK sends an api_key.
        keyed = anthropic.Anthropic(base_url=URL, api_key=ADMIN_TOKEN)
        self.assertEqual(keyed.beta.environments.work.stats(self.environment).depth, 1)

        other = self.anthropic.beta.environments.create(name="other").id
        scoped = client(auth_token=token_for([other]))
        with self.assertRaises(anthropic.PermissionDeniedError):
            scoped.beta.environments.work.stats(self.environment)
        with self.assertRaises(anthropic.NotFoundError) as missing:
            self.work.retrieve("work_00000000000000000000000000000000", environment_id=self.environment)
        self.assertEqual(missing.exception.type, "not_found_error")
        with self.assertRaises(anthropic.BadRequestError):
            self.work.poll(self.environment, block_ms=0)

        # 409 is one the SDK retries by default; x-should-retry: false makes it the first answer.
        with self.assertRaises(anthropic.ConflictError) as conflict:
            self.work.heartbeat(item_id, environment_id=self.environment)
        self.assertEqual(conflict.exception.response.headers["x-should-retry"], "false")
        self.assertEqual(conflict.exception.response.request.headers["x-stainless-retry-count"], "0")

        self.work.ack(item_id, environment_id=self.environment)
        beat = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        with self.assertRaises(BetaHeartbeatPreconditionFailedError) as refused:
            self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        error = refused.exception
        self.assertEqual((error.status_code, error.error_code, error.type), (412, "heartbeat_precondition_failed", "precondition_failed_error"))
        self.assertTrue(error.request_id)
        state = error.details.current_state
        self.assertEqual((state.last_heartbeat, state.lease_extended, state.state), (beat.last_heartbeat, False, "active"))
        self.assertIn(state.ttl_seconds, range(8, 11))

        self.anthropic.beta.environments.archive(self.environment)
        with self.assertRaises(BetaEnvironmentArchivedError):
            self.work.poll(self.environment)
        # Leases already held run to their end.
        self.assertEqual(self.work.heartbeat(item_id, environment_id=self.environment).state, "active")
        with self.assertRaises(anthropic.ConflictError):
            self.anthropic.beta.environments.delete(self.environment)


class Helpers(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = anthropic.AsyncAnthropic(base_url=URL, auth_token=ADMIN_TOKEN)
        self.environment = (await self.client.beta.environments.create(name="helpers")).id
        self.key = token_for([self.environment])

    async def test_the_poller_claims_acks_yields_and_stops(self):
        made = enqueue(PREFIX, self.environment, count=3)
        seen = []
        poller = self.client.beta.environments.work.poller(environment_id=self.environment, environment_key=self.key, worker_id="poller-1", drain=True)
        work = self.client.beta.environments.work
        async for item in poller:
            # The poller yields the polled item as it was; by then it has acked it.
            held = await work.retrieve(item.id, environment_id=self.environment)
            self.assertEqual((held.state, held.fencing_token), ("starting", 1))
            seen.append(item.id)
        self.assertEqual(seen, made)
        for item_id in made:
            item = await work.retrieve(item_id, environment_id=self.environment)
            self.assertEqual((item.state, item.worker_id), ("stopping", "poller-1"), "stopped by the poller after its body")

    async def test_the_lease_loop_ends_as_stopped_or_as_lost(self):
        stopped_id, taken_id = enqueue(PREFIX, self.environment, count=2)
        scoped = anthropic.AsyncAnthropic(base_url=URL, auth_token=self.key)
        work = scoped.beta.environments.work
        for item_id in (stopped_id, taken_id):
            await work.ack(item_id, environment_id=self.environment)

        async def run(item_id, interfere):
            lease = _worker._Lease()
            beats = []
            loop = asyncio.create_task(_worker._heartbeat_loop(work, work_id=item_id, environment_id=self.environment, lease=lease, on_lease_ttl=beats.append))
            # Two beats prove NO_HEARTBEAT then the echo of last_heartbeat (a wrong echo is a 412).
            while len(beats) < 2:
                self.assertFalse(loop.done(), f"the loop ended early: {lease._end_reason}")
                await asyncio.sleep(0.1)
            self.assertEqual(beats, [10, 10])
            await interfere(item_id)
            interfered = time.monotonic()
            await asyncio.wait_for(loop, timeout=15)
            return lease._end_reason, time.monotonic() - interfered

        async def force_stop(item_id):
            await self.client.beta.environments.work.stop(item_id, environment_id=self.environment, force=True)

        async def take_over(item_id):
            # Another worker wins the compare-and-set: the loop's next echo is stale.
            held = await self.client.beta.environments.work.retrieve(item_id, environment_id=self.environment)
            await self.client.beta.environments.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat=held.latest_heartbeat_at)

        (stop_reason, stop_after), (take_reason, _) = await asyncio.gather(run(stopped_id, force_stop), run(taken_id, take_over))
        self.assertEqual(stop_reason, _worker._LeaseEndReason.HEARTBEAT_STOP)
        self.assertLess(stop_after, 5 + 3, "a force stop ends the loop within one beat (TTL 10 s: every 5 s), plus the beat itself")
        self.assertEqual(take_reason, _worker._LeaseEndReason.LEASE_LOST)


if __name__ == "__main__":
    unittest.main()
