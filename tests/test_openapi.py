"""Schemathesis against a real `responder serve`, with the hand-written /api/openapi.json: every route
answers as the document says (status codes, content types, bodies), never a 500, and refuses hooks
without a token. Bounded: a few dozen examples per operation.

`positive_data_acceptance` is left out for the hooks: the document says a body is a JSON object or
array, and most such bodies are not alert payloads (a 400 naming the field is the right answer).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from responder.web.openapi import DOCUMENT
from tests.conftest import ROOT
from tests.support.fleet import free_port
from tests.support.scenario import write_config

schema = schemathesis.openapi.from_dict(DOCUMENT)
AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture(scope="module")
def base_url(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openapi")
    port = free_port()
    path = write_config(tmp, {"services": {"shop": {"url": "http://{address}:8001/"}},
                              "servers": {"web-01": {"address": "10.0.1.21"}},
                              "clients": {"acme": {"servers": ["web-01"], "services": ["shop"]}}},
                        listen=f"127.0.0.1:{port}", incidents={"group_wait": "1h"})
    env = {**os.environ, "RESPONDER_REDIS_URL": redis_server_url}
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "responder", "serve", "--config", str(path)], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert proc.poll() is None, (tmp / "serve.log").read_text()
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        body = (ROOT / "tests" / "payloads" / "alertmanager-firing-single.json").read_bytes()
        requests.post(f"{base}/hooks/alertmanager", data=body, timeout=30,
                      headers={**AUTH, "Content-Type": "application/json"}).raise_for_status()
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        assert "Traceback" not in (tmp / "serve.log").read_text()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_answers_as_the_document_says(case: schemathesis.Case, base_url: str) -> None:
    excluded = [positive_data_acceptance] if case.path.startswith("/hooks/") else []
    case.call_and_validate(base_url=base_url, headers=AUTH, excluded_checks=excluded, timeout=60)
