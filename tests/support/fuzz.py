"""Schema fuzzing of rayrlhf's FastAPI apps with schemathesis: the OpenAPI schema is the one the app generates now,
every operation gets generated requests with and without the bearer token, and every reply must be no server
error, a documented status, and match the documented schema, headers and content type. Schemathesis's
``positive_data_acceptance`` is not asked for: the apps check more than the schema says (a ranking is a permutation,
best differs from worst, an integer is not written 30.0), and answer such requests 422 with a message."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance,
          schemathesis.checks.response_headers_conformance]


def fuzz_app(app, token: str, examples_per_operation: int) -> dict[str, tuple[int, int]]:
    """Run every operation of ``app`` up to ``examples_per_operation`` times per generation mode (schema-valid
    requests, and schema-invalid ones: every reply still documented); return per operation the requests sent and
    how many of them were distinct."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    counts: dict[str, tuple[int, int]] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        sent, seen = [0], set()
        for mode in schemathesis.GenerationMode:

            @settings(max_examples=examples_per_operation, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode), with_token=st.booleans())
            def check(case, with_token):
                sent[0] += 1
                seen.add(repr((case.path_parameters, case.query, case.body, with_token)))
                headers = {"Authorization": f"Bearer {token}"} if with_token else {}
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:  # an operation without inputs has no schema-invalid request to send
                if mode is schemathesis.GenerationMode.POSITIVE:
                    raise
        counts[label] = (sent[0], len(seen))
    return counts
