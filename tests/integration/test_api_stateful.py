"""A schemathesis stateful run over the API's OpenAPI description (issue 20): campaigns
are created, then paused, resumed, canceled and read in the orders the description's
`links` allow (create -> status | pause | cancel, pause -> resume | cancel, resume ->
pause | cancel, cancel -> status | resume), with generated ids, texts and bodies beside
them.  Every answer must be as described and none a 5xx; at the end of each scenario,
every campaign it created answers its status as described.

A JSON create naming a campaign gets importable recipients and text, so
that scenarios go past the create; its id and the other creates stay as generated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hyp
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.settings import Settings
from dispatcher.http import auth, openapi
from tests.http_kit import Api, api_server

pytestmark = pytest.mark.integration
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SCENARIOS = 40  # hypothesis examples: the run stays under ten seconds on 2 cores
STEPS = 8  # calls per scenario, at most
RECIPIENTS = [{"phone": f"08123456{i:02d}", "name": f"N{i}"} for i in range(5)]
schema = schemathesis.openapi.from_dict(openapi.spec()).include(path_regex="^/v1/campaigns")


@dataclass
class Served:
    base: str
    client: redis.Redis
    key: str = ""

    def fresh(self) -> None:
        """Every scenario starts from an empty Redis (the same steps give the same answers)."""
        self.client.flushdb()
        self.key = auth.create(self.client, "stateful", "admin")


@pytest.fixture(scope="module")
def served(redis_url: str) -> Iterator[Served]:
    """The API on a flushed Redis, with an admin key."""
    client = redis.Redis.from_url(redis_url)
    with api_server(Settings(redis_url=redis_url, link_base="https://s.example.com")) as base:
        yield Served(base, client)
    client.flushdb()
    client.close()


def _creates(case: schemathesis.Case) -> bool:
    """A JSON create with a campaign id (the others stay as generated)."""
    posts = case.operation.path == "/v1/campaigns" and case.method == "POST"
    return posts and isinstance(case.body, dict) and bool(case.body.get("campaign"))


def test_the_description_links_create_pause_resume_cancel() -> None:
    paths = openapi.spec()["paths"]
    created = paths["/v1/campaigns"]["post"]["responses"]["201"]["links"]
    paused = paths["/v1/campaigns/{campaign}/pause"]["post"]["responses"]["200"]["links"]
    resumed = paths["/v1/campaigns/{campaign}/resume"]["post"]["responses"]["200"]["links"]
    assert {"pause", "cancel"} <= created.keys() and {"resume", "cancel"} <= paused.keys()
    assert {"pause", "cancel"} <= resumed.keys()


def test_create_pause_resume_cancel_as_described(served: Served) -> None:
    created: set[str] = set()
    stats = {"created": 0}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            if _creates(case):
                keep = {k: v for k, v in case.body.items() if k in ("campaign", "gsm_safe")}
                case.body = {**keep, "text": "Hi {name}", "recipients": RECIPIENTS}
                case.query = {}

        def setup(self) -> None:
            served.fresh()
            created.clear()

        def teardown(self) -> None:
            api = Api(served.base, served.key)
            for campaign in created:  # each campaign the scenario made still answers
                answer = api.call("GET", f"/v1/campaigns/{campaign}")
                assert answer.status == 200 and answer.json()["campaign"] == campaign

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": served.base, "headers": {"Authorization": f"Bearer {served.key}"}}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            if case.operation.path == "/v1/campaigns" and response.status_code == 201:
                created.add(response.json()["campaign"])
                stats["created"] += 1
            elif case.operation.path.startswith("/v1/campaigns/{campaign}/"):
                action = case.operation.path.rsplit("/", 1)[1]
                if response.status_code == 200:
                    stats[action] = stats.get(action, 0) + 1

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Workflow.run(
        settings=hyp(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    # the run went past the create, into the control actions
    assert stats["created"] and any(stats.get(a) for a in ("pause", "resume", "cancel")), stats


def test_create_pause_resume_cancel_in_that_order_as_described(served: Served) -> None:
    """The chain itself, each step a case of the description checked like the run's."""
    served.fresh()
    auth = {"Authorization": f"Bearer {served.key}"}
    body = {"campaign": "chain", "text": "Hi {name}", "recipients": RECIPIENTS}
    control = "/v1/campaigns/{campaign}/"
    steps = [
        ("/v1/campaigns", 201, "sending"),
        (control + "pause", 200, "paused"),
        (control + "resume", 200, "sending"),
        (control + "pause", 200, "paused"),
        (control + "cancel", 200, "canceled"),
        (control + "resume", 409, "canceled"),  # a canceled campaign stays canceled
    ]
    for path, status, state in steps:
        operation = schema[path]["POST"]
        if path == "/v1/campaigns":
            case = operation.Case(body=body, media_type="application/json")
        else:
            case = operation.Case(path_parameters={"campaign": "chain"})
        response = case.call(base_url=served.base, headers=auth)
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == status, (path, response.text)
        answer = Api(served.base, served.key).call("GET", "/v1/campaigns/chain").json()
        assert answer["state"] == state, (path, answer["state"])
