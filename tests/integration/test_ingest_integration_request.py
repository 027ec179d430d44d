"""The AWS door's integration request, as template.yaml writes it, against SQS's query protocol as moto's server
implements it (code nobody on this project wrote): the form API Gateway sends carries every body through unchanged.

API Gateway renders the request template ``Action=SendMessage&MessageBody=$util.urlEncode($input.body)`` with the
header ``Content-Type: application/x-www-form-urlencoded``; ``$util.urlEncode`` form-encodes like Java's
``URLEncoder`` (a space as ``+``), which ``urllib.parse.quote_plus`` does too. Only that one function is ours here.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_stack.stack import REGION, LocalStack, local_stack

from tests.infra.sam_translate import TEMPLATE_PATH, load_template

# A SigV4-shaped header: moto's server takes the Region from it (it does not check the signature).
FAKE_SIGV4 = f"AWS4-HMAC-SHA256 Credential=testing/20261202/{REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0"


def integration() -> dict[str, Any]:
    method = load_template(TEMPLATE_PATH)["Resources"]["IngestMethod"]["Properties"]
    integration: dict[str, Any] = method["Integration"]
    return integration


def rendered(body: str) -> tuple[dict[str, str], str]:
    """The headers and form API Gateway sends SQS for ``body``: the template's, with ``$util.urlEncode`` applied."""
    spec = integration()
    [template] = dict(spec["RequestTemplates"]).values()
    form = template.replace("$util.urlEncode($input.body)", urllib.parse.quote_plus(body))
    assert "$" not in form  # nothing else of the template is left for API Gateway to render
    parameters = dict(spec["RequestParameters"])
    headers = {name.removeprefix("integration.request.header."): value.strip("'") for name, value in parameters.items()}
    return headers | {"Authorization": FAKE_SIGV4}, form


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with local_stack() as running:
        yield running


def send_as_api_gateway(stack: LocalStack, body: str) -> str:
    headers, form = rendered(body)
    answer = requests.post(stack.queue_url, data=form.encode(), headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text[:200]
    [message_id] = re.findall(r"<MessageId>([^<]+)</MessageId>", answer.text)
    return str(message_id)


def received(stack: LocalStack) -> list[tuple[str, str]]:
    sqs = stack.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [(message["MessageId"], message["Body"]) for message in messages]


def test_the_integration_calls_send_message_on_the_audience_queue_with_a_form() -> None:
    spec = integration()
    assert spec["Type"] == "AWS" and spec["IntegrationHttpMethod"] == "POST"
    assert spec["PassthroughBehavior"] == "NEVER"
    headers, form = rendered("{}")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(form) == {"Action": ["SendMessage"], "MessageBody": ["{}"]}


@pytest.mark.parametrize(
    "body",
    [
        '{"segmentMembership": {"ups": {"a&b=c": {"status": "realized"}}}, "identityMap": {}}',
        '{"k": "+ % & = ? # / \\\\ \\" \' ; , space  two"}',
        '{"name": "Käufer 🛍️ 中文 עברית \u202e"}',
        '{\n\t"multi": "line"\r\n}',
        json.dumps({"long": "x" * 200_000}),
    ],
    ids=["reserved-in-keys", "form-metacharacters", "unicode-and-bidi", "whitespace", "200-kb"],
)
def test_hostile_bodies_reach_the_queue_unchanged(stack: LocalStack, body: str) -> None:
    message_id = send_as_api_gateway(stack, body)
    assert received(stack) == [(message_id, body)]


# What JSON can carry and SQS takes (no lone surrogates, no U+FFFE/U+FFFF: the door answers those 400).
TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\ufffe\uffff")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(TEXT, max_size=20), st.text(TEXT, max_size=50), max_size=5))
def test_any_json_object_round_trips(stack: LocalStack, document: dict[str, str]) -> None:
    body = json.dumps(document, ensure_ascii=False)
    message_id = send_as_api_gateway(stack, body)
    assert received(stack) == [(message_id, body)]
