"""Localized errors: accept-language picks the LocalizedMessage's language; the status message stays English."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest

from runwire.server.api.i18n import catalogue_reasons, localize, pick_language
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, error_reason_pb2, run_pb2
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, fails, running, secure_settings


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as instance:
        yield instance


@pytest.mark.parametrize(
    "header, language",
    [
        ("es", "es"),
        ("es-MX,es;q=0.9,en;q=0.5", "es"),
        ("fr-CA", "fr"),
        ("de-DE,fr;q=0.4", "fr"),
        ("en;q=0.2,fr;q=0.9", "fr"),
        ("de", "en"),
        ("*", "en"),
        ("", "en"),
        ("es;q=abc", "en"),
        ("x" * 10_000, "en"),
    ],
)
def test_the_best_supported_language_is_picked(header: str, language: str) -> None:
    assert pick_language(header) == language


def test_every_error_reason_has_a_spanish_and_french_message() -> None:
    reasons = {name.removeprefix("ERROR_REASON_") for name in error_reason_pb2.ErrorReason.keys()} - {"UNSPECIFIED"}
    assert reasons <= catalogue_reasons()
    for reason in reasons:
        for language in ("es", "fr"):
            locale, message = localize(reason, language, "English text", {})
            assert locale == language and message and message != "English text", (reason, language)


async def test_not_found_in_spanish_and_french_with_the_resource(server: RunwireServer) -> None:
    expected = {
        "es": "El agente agents/nope-nope no existe.",
        "fr": "L'agent agents/nope-nope n'existe pas.",
    }
    for language, text in expected.items():
        async with caller(server, api_key(ADMIN_KEY), ("accept-language", language)) as someone:
            failure = await fails(someone.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/nope-nope")))
            assert failure.code == grpc.StatusCode.NOT_FOUND
            assert failure.localized == (language, text)
            assert failure.message == "agent 'agents/nope-nope' does not exist"  # the status message stays English


async def test_unknown_languages_fall_back_to_english(server: RunwireServer) -> None:
    async with caller(server, api_key(ADMIN_KEY), ("accept-language", "de-DE,ja;q=0.8")) as someone:
        failure = await fails(someone.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/nope-nope")))
        assert failure.localized == ("en", failure.message)
    async with caller(server, api_key(ADMIN_KEY)) as someone:
        failure = await fails(someone.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/nope-nope")))
        assert failure.localized == ("en", failure.message)


async def test_streaming_auth_and_validation_errors_are_localized(server: RunwireServer) -> None:
    async with caller(server, ("accept-language", "fr")) as nobody:
        failure = await fails(nobody.follow("runs/abcd"))
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
        assert failure.localized == ("fr", "L'appel n'est pas authentifié : envoyez une clé d'API ou un jeton valide.")
    async with caller(server, api_key(ADMIN_KEY), ("accept-language", "es")) as admin:
        missing = await fails(admin.follow("runs/abcd"))
        assert missing.localized == ("es", "La ejecución runs/abcd no existe.")
        invalid = await fails(admin.runs.GetRun(run_pb2.GetRunRequest(name="bad name")))
        assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT
        # The localized message names the bad field; the BadRequest descriptions stay English.
        assert invalid.localized == ("es", "La solicitud tiene campos no válidos. Campos: name.")
