"""The OpenAPI 3.0 description of every route, served at /api/openapi.json.

Written by hand so that it says what the handlers promise, not what a generator guesses; the suite
runs schemathesis against a live server with it (tests/test_openapi.py), so a route or an answer that
drifts from this document fails there. Incidents are described by their stable fields only: the
verdict JSON may gain fields (SPEC names may be added freely).
"""

from __future__ import annotations

from typing import Any

from responder.intake.sources import SOURCES

_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _behind_login(operation: dict[str, Any], json: bool) -> dict[str, Any]:
    """The pages and /api/* ask for a login when `auth.users` is set (responder/web/auth.py)."""
    login = _json(_ERROR, "login required") if json else _html("login required")
    return {**operation, "security": [{"login": []}, {}], "responses": {**operation["responses"], "401": login}}


_INCIDENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status", "opened_at", "updated_at", "alerts", "clients", "notifications"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "assessed", "resolved"]},
        "severity": {"type": "string", "enum": ["critical", "degraded", "ok"], "nullable": True},
        "opened_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "alerts": {"type": "array", "items": {"type": "object"}},
        "unmapped_hosts": {"type": "array", "items": {"type": "string"}},
        "clients": {"type": "array", "items": {"type": "object"}},
        "notifications": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
    },
}

_NOTIFICATION: dict[str, Any] = {
    "type": "object",
    "required": ["channel", "to", "status", "at"],
    "properties": {
        "channel": {"type": "string"},
        "to": {"type": "string"},
        # unknown: the send was cut off after the server may have taken the message
        "status": {"type": "string", "enum": ["sent", "failed", "skipped", "unknown"]},
        "at": {"type": "string"},
        "error": {"type": "string", "nullable": True},
        "client": {"type": "string", "nullable": True},
        "state": {"type": "string", "nullable": True},
    },
}

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_LIMIT = {"name": "limit", "in": "query", "required": False, "allowEmptyValue": True,  # empty: the default
          "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}

_HOOK: dict[str, Any] = {
    "summary": "Receive a delivery of alerts from one monitoring system",
    "security": [{"bearer": []}, {"signature": []}],
    "parameters": [
        {"name": "source", "in": "path", "required": True, "schema": {"type": "string", "enum": list(SOURCES)}},
        {"name": "Content-Encoding", "in": "header", "required": False,
         "schema": {"type": "string", "enum": ["identity", "gzip", "deflate"]}},
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "description": "an Alertmanager webhook, or the Icinga2/Zabbix JSON of `responder notify`",
        "oneOf": [{"type": "object"}, {"type": "array"}]}}}},
    "responses": {
        "202": _json({"type": "object", "required": ["accepted", "incidents"], "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "incidents": {"type": "array", "items": {"type": "string"}},
            "duplicates": {"type": "integer", "minimum": 0},
            "warnings": {"type": "array", "items": {"type": "string"}}}}, "stored durably"),
        "400": _json(_ERROR, "malformed: `field` names the part that is wrong; or a body that does not decode"),
        "401": _json(_ERROR, "no good bearer token or signature"),
        "404": _json(_ERROR, "unknown source"),
        "408": _json(_ERROR, "the body did not arrive in time"),
        "413": _json(_ERROR, "larger than limits.max_body (decoded)"),
        "415": _json(_ERROR, "not JSON, or a Content-Encoding other than gzip or deflate"),
        "503": _json(_ERROR, "the store is unavailable: retry", _RETRY),
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Responder", "version": "1",
             "description": "Alerts in from Alertmanager, Icinga2 and Zabbix; per-client verdicts out."},
    "paths": {
        "/hooks/{source}": {"post": _HOOK},
        "/api/incidents": {"get": _behind_login({
            "summary": "Recent incidents, newest first",
            "parameters": [_LIMIT],
            "responses": {
                "200": _json({"type": "object", "required": ["incidents"], "properties": {
                    "incidents": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}}}},
                    "the incidents"),
                "400": _json(_ERROR, "a limit that is not a whole number from 1 to 1000"),
                "503": _json(_ERROR, "the store is unavailable", _RETRY),
            }}, json=True)},
        "/api/incidents/{id}": {"get": _behind_login({
            "summary": "One incident's verdict JSON",
            "parameters": [_ID],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Incident"}, "the incident"),
                "404": _json(_ERROR, "no such incident"),
                "503": _json(_ERROR, "the store is unavailable", _RETRY),
            }}, json=True)},
        "/api/openapi.json": {"get": _behind_login({
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "the OpenAPI document")}}, json=True)},
        "/": {"get": _behind_login({
            "summary": "The recent incidents page",
            "parameters": [_LIMIT],
            "responses": {"200": _html("the page"), "400": _json(_ERROR, "a bad limit"),
                          "503": _html("the store is unavailable")}}, json=False)},
        "/incidents/{id}": {"get": _behind_login({
            "summary": "One incident's page",
            "parameters": [_ID],
            "responses": {"200": _html("the page"), "404": _html("no such incident"),
                          "503": _html("the store is unavailable")}}, json=False)},
        "/clients/{name}": {"get": _behind_login({
            "summary": "One client's recent incidents",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _html("the page"), "404": _html("no such client"),
                          "503": _html("the store is unavailable")}}, json=False)},
        "/share/{incident}/{client}": {"get": {
            "summary": "One client's part of one incident, behind a signed link instead of a login",
            "parameters": [
                {"name": "incident", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "client", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "exp", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {"200": _html("the client's part"), "403": _html("a changed or expired link"),
                          "404": _html("the incident is no longer kept"),
                          "503": _html("the store is unavailable")}}},
        "/healthz": {"get": {
            "summary": "The process is up",
            "responses": {"200": _json({"type": "object", "required": ["ok"],
                                        "properties": {"ok": {"type": "boolean"}}}, "up")}}},
        "/readyz": {"get": {
            "summary": "The store answers",
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Ready"}, "ready"),
                "503": _json({"$ref": "#/components/schemas/Ready"}, "the store is down"),
            }}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (behind the login too with `auth.metrics: true`)",
            "security": [{"login": []}, {}],
            "responses": {"200": {"description": "the metrics", "content": {"text/plain": {
                "schema": {"type": "string"}}}}, "401": _json(_ERROR, "login required")}}},
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "one of auth.tokens"},
            "login": {"type": "http", "scheme": "basic", "description": "one of auth.users"},
            "signature": {"type": "apiKey", "in": "header", "name": "X-Responder-Signature",
                          "description": "sha256=<hex HMAC-SHA256 of the raw body with auth.hmac_secret>"},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "field": {"type": "string", "nullable": True}}},
            "Incident": _INCIDENT,
            "Notification": _NOTIFICATION,
            "Ready": {"type": "object", "required": ["ok", "store"], "properties": {
                "ok": {"type": "boolean"}, "store": {"type": "string", "enum": ["up", "down"]}}},
        },
    },
}
