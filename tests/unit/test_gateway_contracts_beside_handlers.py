"""Every route's contract sits on its handler, the pages' too (no module declares them from
afar), and a 202 is built from its answer model like every other answer."""

from __future__ import annotations

import json

import pytest

from services.gateway import attachments
from services.gateway.app import ROUTE_TABLES
from services.gateway.contracts import BODY_FRAMING, contract_of
from services.gateway.models import Accepted, Opened
from services.gateway.openapi import routes_of
from services.gateway.pages import admin, forms, view
from services.gateway.publishing import accepted_response


@pytest.mark.parametrize(
    ("handler", "summary"),
    [
        (view.delivery_page, "A delivery's page, as the link's party; never changes anything"),
        (view.delivery_file, "Download a file of the delivery with the link token"),
        (forms.press, "Press a button of the page: the command goes the API's path"),
        (admin.admin_page, "The administrators' list of deliveries (an admin link)"),
    ],
)
def test_each_page_handler_carries_its_contract(handler, summary):
    contract = contract_of(handler)
    assert contract.summary == summary
    assert contract.public
    assert {403, 429} <= set(contract.responses)


def test_the_pages_keep_their_docstrings_through_html_errors():
    assert view.delivery_page.__doc__.startswith("GET /d/{delivery_id}")
    assert admin.admin_page.__doc__.startswith("GET /admin")


def test_accepted_response_sends_the_model_as_json_answer_does():
    response = accepted_response(Accepted(command_id="c:1@x", status="accepted"), "c:1@x")
    assert response.status == 202
    assert response.headers["Location"] == "/v1/commands/c:1@x"
    assert response.content_type == "application/json"
    assert response.body == b'{"command_id": "c:1@x", "status": "accepted"}'


def test_accepted_response_leaves_out_what_the_answer_was_not_given():
    response = accepted_response(Opened(delivery_id="d1", command_id="c 1"), "c 1")
    assert response.headers["Location"] == "/v1/commands/c%201"
    assert json.loads(response.body) == {"delivery_id": "d1", "command_id": "c 1"}


def test_every_post_declares_the_refusals_of_its_body_framing():
    posts = [(path, c) for path, method, c in routes_of(ROUTE_TABLES) if method == "post"]
    assert len(posts) == 7
    for path, contract in posts:
        assert set(BODY_FRAMING) <= set(contract.responses), path
        assert "Accept-Encoding" in contract.responses[415].headers, path


def test_both_downloads_declare_what_stream_file_sends_and_a_damaged_file():
    api, page = contract_of(attachments.download), contract_of(view.delivery_file)
    assert api.responses[200] == page.responses[200] == attachments.FILE_ANSWER
    assert "*/*" in attachments.FILE_ANSWER.content
    for contract in (api, page):
        assert contract.responses[500].description.startswith("attachment_unreadable")
