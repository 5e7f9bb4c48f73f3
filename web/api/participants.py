"""Participants over HTTPS: an admin erases one, with everything they recorded."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from litestar import Controller, Request, delete
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath
from litestar.status_codes import HTTP_409_CONFLICT

from lab.db.models import User
from lab.privacy.erase import ErasureRefusedError, ErasureReport, erase_participant, erase_session
from web.auth import admin_guard
from web.services import Services, ServicesDep
from workers.tasks import pipeline_busy


async def erased(services: Services, user: User, subject: str, subject_id: uuid.UUID) -> ErasureReport:
    """Erase a `session` or a `participant` for `user`: 404 when it is unknown, 409 while a pipeline job
    of it is queued or running (as HTTP exceptions, for the API and the dashboard alike)."""
    erase = erase_session if subject == "session" else erase_participant
    try:
        return await erase(
            services.db, services.blobs, subject_id, busy=partial(pipeline_busy, services.queue), requested_by=user.id
        )
    except LookupError as exc:
        raise NotFoundException(str(exc)) from exc
    except ErasureRefusedError as exc:
        raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc


class ParticipantController(Controller):
    path = "/api/v1/participants"
    tags = ["participants"]

    @delete("/{participant_id:uuid}", guards=[admin_guard], status_code=200)
    async def erase(
        self, request: Request[User, Any, Any], participant_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> dict[str, Any]:
        """Erase every session of the participant and the participant itself (GDPR art. 17); the
        report says what went, what could not (run it again) and what no erasure here reaches."""
        report = await erased(services, request.user, "participant", participant_id)
        return report.to_dict()
