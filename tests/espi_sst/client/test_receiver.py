"""The notify endpoint (espi_sst/client/receiver.py): a BatchList reaches the callback,
anything else -- another body, an oversized one, another method -- is refused.
"""

from __future__ import annotations

import io

import pytest
from werkzeug.test import Client, EnvironBuilder

import espi_sst
from espi_sst.client import (
    NotificationReceiver,
)
from espi_sst.model import espi as m

# ---- the notify endpoint -----------------------------------------------------------------
BATCH_LIST = espi_sst.serialize(
    m.BatchList(resources=["https://gbc.example/espi/1_1/resource/Batch/Subscription/7"])
)


def test_a_batch_list_reaches_the_callback() -> None:
    received: list[list[str]] = []
    answer = Client(NotificationReceiver(received.append)).post(
        "/notify", data=BATCH_LIST, content_type="application/atom+xml"
    )
    assert answer.status_code == 204
    assert received == [["https://gbc.example/espi/1_1/resource/Batch/Subscription/7"]]


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE b [<!ENTITY x "boom">]>\n'
        b'<BatchList xmlns="http://naesb.org/espi"><resources>&x;</resources></BatchList>',
        espi_sst.serialize(m.UsagePoint(service_category=m.ServiceCategory(kind=0))),
        b"not xml at all",
        b"",
        BATCH_LIST + b" " * (1 << 20),  # a good BatchList, too long
    ],
    ids=["doctype-entity", "not-a-batch-list", "not-xml", "empty", "over-1-MiB"],
)
def test_anything_but_a_batch_list_is_refused(body: bytes) -> None:
    received: list[list[str]] = []
    answer = Client(NotificationReceiver(received.append)).post(
        "/notify", data=body, content_type="application/atom+xml"
    )
    assert answer.status_code == 400
    assert received == []


class Unreadable(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("an oversized notification body was read")


def test_an_oversized_notification_is_refused_before_it_is_read() -> None:
    received: list[list[str]] = []
    environ = EnvironBuilder(method="POST", path="/notify").get_environ()
    environ.update({"CONTENT_LENGTH": str((1 << 20) + 1), "wsgi.input": Unreadable()})
    statuses: list[str] = []
    NotificationReceiver(received.append)(environ, lambda status, _headers: statuses.append(status))
    assert statuses == ["400 Bad Request"]
    assert received == []


def test_the_notify_endpoint_only_takes_post() -> None:
    received: list[list[str]] = []
    answer = Client(NotificationReceiver(received.append)).get("/notify")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert received == []
