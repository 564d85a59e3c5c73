"""Placeholder: the gigs pages come next."""

from escrowd.api.strict_json import APIRouter

router = APIRouter(prefix="/app", include_in_schema=False)
