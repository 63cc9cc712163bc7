"""`tongban supervision ratings …`: the 差评 queue, a rating, and each step of its handling
(回访核实, 整改, the rater's verdict, 申诉 and its decision), one transaction each."""

from __future__ import annotations

from typing import Any

import typer

from tongban.supervision.cli_common import AS_USER, actor, parse_uuid, say
from tongban.supervision.ratings import content
from tongban.supervision.ratings.workflow import ACTION_LABELS, STATE_LABELS

app = typer.Typer(help="好差评: the bad-rating queue and its handling.", no_args_is_help=True)

FINDINGS = {"fix-now": "fix_now", "explain": "explain", "plan": "plan_rectification"}


def _print(view: Any) -> None:
    r, h = view.rating, view.rectification
    say(f"rating {r.id} {r.case_number} {r.occasion} {r.channel}: {r.level} "
        f"{content.LEVELS[r.level]}{' (annulled)' if r.annulled else ''}")
    if r.comment:
        say(f"  comment: {r.comment}")
    if h is not None:
        say(f"  handling: {h.state} {STATE_LABELS[h.state]}; visit due {h.visit_due}"
            + (f"; rectify due {h.rectify_due}" if h.rectify_due else "")
            + (f"; outcome: {h.outcome}" if h.outcome else ""))
    for e in view.events:
        say(f"  #{e.seq} {e.at:%Y-%m-%d %H:%M} {e.actor_name} ({e.actor_role}) {e.action}"
            f" -> {e.to_state}{': ' + e.reason if e.reason else ''}")
    if view.allowed_actions:
        say("  next: " + ", ".join(f"{a} ({ACTION_LABELS[a]})" for a in view.allowed_actions))


def _step(as_user: str, rating_id: str, action: str, **given: Any) -> None:
    """One step, in one transaction; the rating as it now is."""
    from tongban.cli import cli_session
    from tongban.supervision.ratings import service

    who = actor(as_user)
    rid = parse_uuid(rating_id, "rating_id")
    with cli_session() as session:
        _print(service.act(db_session=session, actor=who, rating_id=rid, action=action,
                           **given))


@app.command("list")
def list_queue(as_user: str = AS_USER,
               state: str | None = typer.Option(None, help="A handling state; default open."),
               limit: int = typer.Option(100, min=1, max=500)) -> None:
    """Bad ratings in the account's scope still open, the oldest deadline first."""
    from tongban.cli import cli_session
    from tongban.supervision.ratings import service

    who = actor(as_user)
    with cli_session() as session:
        rows = service.queue(db_session=session, actor=who, state=state, limit=limit)
        for row in rows:
            h = row.rectification
            say(f"{row.rating.id} {row.rating.case_number} {row.rating.level} "
                f"{h.state} visit due {h.visit_due}{' OVERDUE' if row.overdue else ''}")
    if not rows:
        say("no bad ratings waiting")


@app.command("show")
def show(rating_id: str, as_user: str = AS_USER) -> None:
    """A rating, its handling, its history and the steps open to the account."""
    from tongban.cli import cli_session
    from tongban.supervision.ratings import service

    who = actor(as_user)
    rid = parse_uuid(rating_id, "rating_id")
    with cli_session() as session:
        _print(service.get(db_session=session, actor=who, rating_id=rid))


@app.command("rate")
def rate(case_number: str, as_user: str = AS_USER,
         level: int = typer.Option(..., help="1 非常不满意 … 5 非常满意"),
         channel: str = typer.Option("online"), comment: str = typer.Option(""),
         visit_seq: int | None = typer.Option(None, help="The window visit rated (window).")
         ) -> None:
    """The applicant rates one service of their case; a bad rating opens its handling."""
    from tongban.cli import cli_session
    from tongban.supervision.ratings import service

    who = actor(as_user)
    with cli_session() as session:
        _print(service.rate(db_session=session, actor=who, case_number=case_number,
                            channel=channel, level=level, comment=comment,
                            visit_seq=visit_seq))


@app.command("return-visit")
def return_visit(rating_id: str, as_user: str = AS_USER,
                 finding: str = typer.Option(..., help="fix-now / explain / plan"),
                 reason: str = typer.Option(..., help="What the visit found (回访记录)."),
                 outcome: str | None = typer.Option(None, help="What was done (fix-now, "
                                                               "explain)."),
                 days: int | None = typer.Option(None, help="Rectification working days "
                                                            "(plan).")) -> None:
    """回访核实: the department's finding (立行立改, 解释说明, or 限期整改 with days)."""
    if finding not in FINDINGS:
        from tongban.errors import InvalidInput

        raise InvalidInput(f"回访结论须为 {' / '.join(FINDINGS)} / finding must be one of "
                           f"{', '.join(FINDINGS)}: {finding!r}", details={"field": "finding"})
    _step(as_user, rating_id, FINDINGS[finding], reason=reason, outcome=outcome, days=days)


@app.command("rectify")
def rectify(rating_id: str, as_user: str = AS_USER,
            outcome: str = typer.Option(..., help="What the rectification did.")) -> None:
    """整改: the department reports the rectification's outcome to the rater."""
    _step(as_user, rating_id, "report_outcome", outcome=outcome)


@app.command("verdict")
def verdict(rating_id: str, as_user: str = AS_USER,
            accept: bool = typer.Option(..., "--accept/--reject"),
            reason: str | None = typer.Option(None, help="Why still unhappy (--reject).")
            ) -> None:
    """The rater's verdict: satisfied closes the handling; not, back to rectification."""
    _step(as_user, rating_id, "accept" if accept else "reject", reason=reason)


@app.command("appeal")
def appeal(rating_id: str, as_user: str = AS_USER,
           reason: str = typer.Option(...), evidence: str = typer.Option(...)) -> None:
    """申诉: the department says the rating is malicious, with evidence."""
    _step(as_user, rating_id, "appeal", reason=reason, evidence=evidence)


@app.command("decide-appeal")
def decide_appeal(rating_id: str, as_user: str = AS_USER,
                  uphold: bool = typer.Option(..., "--uphold/--dismiss"),
                  reason: str = typer.Option(...)) -> None:
    """A supervisor decides an appeal: upheld annuls the rating; dismissed resumes it."""
    _step(as_user, rating_id, "uphold_appeal" if uphold else "dismiss_appeal", reason=reason)


@app.command("published")
def published(region: str | None = typer.Option(None)) -> None:
    """The published results per department and item (好评率, 差评, 整改)."""
    from tongban.cli import cli_session
    from tongban.supervision.ratings import service

    with cli_session() as session:
        for row in service.published(db_session=session, region_code=region):
            good = "—" if row.good_rate is None else f"{row.good_rate:.1%}"
            fixed = "—" if row.rectified_rate is None else f"{row.rectified_rate:.1%}"
            say(f"{row.department_id or '—'} {row.item_code or '—'} {row.item_name}: "
                f"{row.total} ratings, 好评率 {good}, 差评 {row.bad}, 整改率 {fixed}, "
                f"annulled {row.annulled}")

