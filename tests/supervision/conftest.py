"""Supervision fixtures: the case world (catalog, people, accounts of every role)."""

from tests.cases.conftest import World, at, cheap_password_hashing, world  # noqa: F401
from tongban.cases.models import Case


def approved_case(w: World) -> Case:
    """A case of the applicant's, submitted, accepted at the window and approved."""
    case = w.submit(when=at(2026, 9, 21, 9))
    w.complete(case, when=at(2026, 9, 21, 9))
    w.act("clerk", case, "accept", when=at(2026, 9, 21))
    w.act("reviewer", case, "approve", when=at(2026, 9, 23))
    return case
