"""Qoder's official client `qca-sdk` (pinned in requirements.txt), unchanged, against a live
Lessor at <lessor>/api/v1/cloud/: every environments and work method, errors mapped to its
exception classes, and cursor pagination.

Run by Tests/LessorEndToEndTests/SDKConformanceTests.swift, which starts Redis and `lessor
serve` and sets LESSOR_URL and LESSOR_ADMIN_TOKEN.
"""
import unittest

import qca
from qca.managed import Managed

from lessor_fixture import ADMIN_TOKEN, URL, enqueue, token_for

PREFIX = "/api/v1/cloud/environments"


def client(token=ADMIN_TOKEN):
    return Managed(access_token=token, base_url=f"{URL}/api/v1/cloud/")


class Environments(unittest.TestCase):
    def test_create_retrieve_update_list_archive_delete(self):
        environments = client().environments
        created = environments.create(name="fleet", description="gpu hosts", config={"type": "self_hosted"}, metadata={"team": "a"})
        self.assertEqual((created.type, created.config.type, created.metadata), ("environment", "self_hosted", {"team": "a"}))
        self.assertEqual(environments.retrieve(created.id).description, "gpu hosts")
        updated = environments.update(created.id, name="fleet-2", metadata={"team": None, "tier": "1"})
        self.assertEqual((updated.name, updated.description, updated.metadata), ("fleet-2", "gpu hosts", {"tier": "1"}))

        other = environments.create(name="short-lived")
        self.assertIsNotNone(environments.archive(other.id).archived_at)
        self.assertNotIn(other.id, [environment.id for environment in environments.list()])
        self.assertIn(other.id, [environment.id for environment in environments.list(include_archived=True, limit=1)])
        with self.assertRaises(qca.BadRequestError) as archived:
            environments.update(other.id, name="late")
        self.assertEqual(archived.exception.body["error"]["details"]["error_code"], "environment_archived")
        self.assertEqual(environments.delete(other.id).type, "environment_deleted")
        with self.assertRaises(qca.NotFoundError):
            environments.retrieve(other.id)


class Work(unittest.TestCase):
    def setUp(self):
        self.qoder = client()
        self.environment = self.qoder.environments.create(name="work", config={"type": "self_hosted"}).id
        self.work = self.qoder.environments.work

    def test_every_resource_method(self):
        [item_id] = enqueue(PREFIX, self.environment, metadata={"k": "v"})
        polled = self.work.poll(self.environment, worker_id="worker-1", block_ms=100)
        self.assertEqual((polled.id, polled.state), (item_id, "queued"))
        self.assertIsNone(self.work.poll(self.environment, block_ms=10))
        stats = self.work.stats(self.environment)
        self.assertEqual((stats.depth, stats.pending, stats.workers_polling), (0, 1, 1))

        acked = self.work.ack(item_id, environment_id=self.environment, extra_headers={"Worker-ID": "worker-1"})
        self.assertEqual(acked.state, "starting")
        first = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        self.assertEqual((first.state, first.lease_extended), ("active", True))
        second = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat=first.last_heartbeat, desired_ttl_seconds=30)
        self.assertEqual(second.ttl_seconds, 30)
        self.assertEqual(self.work.retrieve(item_id, environment_id=self.environment).latest_heartbeat_at, second.last_heartbeat)
        self.assertEqual(self.work.update(item_id, environment_id=self.environment, metadata={"k": None, "n": "1"}).metadata, {"n": "1"})

        self.assertEqual(self.work.stop(item_id, environment_id=self.environment).state, "stopping")
        self.assertEqual(self.work.stop(item_id, environment_id=self.environment, force=True).state, "stopped")
        # The Qoder family keeps its documented 409 on a stopped item.
        with self.assertRaises(qca.ConflictError):
            self.work.heartbeat(item_id, environment_id=self.environment)

    def test_an_idempotency_key_answers_a_retried_write_again(self):
        # qca-sdk retries a POST after a 5xx or a lost connection only when it carries an
        # Idempotency-Key; Lessor then answers the retry from the first call's record.
        [item_id] = enqueue(PREFIX, self.environment)
        ack = {"Worker-ID": "worker-1", "Idempotency-Key": "ack-1"}
        self.assertEqual(self.work.ack(item_id, environment_id=self.environment, extra_headers=ack).fencing_token, 1)
        self.assertEqual(self.work.ack(item_id, environment_id=self.environment, extra_headers=ack).fencing_token, 1)
        beat = {"Worker-ID": "worker-1", "Idempotency-Key": "beat-1"}
        first = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT", extra_headers=beat)
        retried = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT", extra_headers=beat)
        self.assertEqual((retried.last_heartbeat, retried.state), (first.last_heartbeat, "active"))
        with self.assertRaises(qca.ConflictError) as conflict:
            self.work.heartbeat(item_id, environment_id=self.environment, extra_headers=beat)
        self.assertEqual(conflict.exception.body["error"]["type"], "conflict_error")
        self.assertIn("beat-1", conflict.exception.body["error"]["message"])

    def test_cursor_pagination(self):
        made = enqueue(PREFIX, self.environment, count=25)
        first = self.work.list(self.environment, limit=10)
        self.assertEqual((len(first.data), first.has_more, first.first_id), (10, True, made[0]))
        self.assertEqual([item.id for item in self.work.list(self.environment, limit=10)], made)

    def test_errors_are_the_clients_classes_with_request_ids(self):
        [item_id] = enqueue(PREFIX, self.environment)
        with self.assertRaises(qca.AuthenticationError) as unauthenticated:
            client("not-a-token").environments.work.stats(self.environment)
        self.assertTrue(unauthenticated.exception.request_id)
        other = self.qoder.environments.create(name="other").id
        with self.assertRaises(qca.PermissionDeniedError):
            client(token_for([other])).environments.work.stats(self.environment)
        with self.assertRaises(qca.NotFoundError):
            self.work.retrieve("work_00000000000000000000000000000000", environment_id=self.environment)
        with self.assertRaises(qca.ConflictError):
            self.work.heartbeat(item_id, environment_id=self.environment)
        self.work.ack(item_id, environment_id=self.environment)
        beat = self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        with self.assertRaises(qca.APIStatusError) as refused:
            self.work.heartbeat(item_id, environment_id=self.environment, expected_last_heartbeat="NO_HEARTBEAT")
        error = refused.exception
        self.assertEqual((error.status_code, error.type), (412, "precondition_failed_error"))
        details = error.body["error"]["details"]
        self.assertEqual(details["error_code"], "heartbeat_precondition_failed")
        self.assertEqual((details["current_state"]["last_heartbeat"], details["current_state"]["state"]), (beat.last_heartbeat, "active"))
        self.assertTrue(error.request_id)


if __name__ == "__main__":
    unittest.main()
