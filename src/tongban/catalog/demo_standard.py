"""The demo's standard guides and declared variances, made through the services.

Every demo item gets its standard guide; then the standardisation diff is computed for
each LOCAL_DIFFERENCES row's item and region, and each difference it finds there is
declared with the row's reason and legal basis and approved under the row's approver.
Rows without a legal basis stay undeclared: the conformance report shows them as the
differences to correct (待整改).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tongban.catalog import demo_data
from tongban.catalog import standardisation as std
from tongban.catalog.schemas import StandardGuide
from tongban.identity.actor import SYSTEM_ACTOR


def seed_standard(*, db_session: Session) -> dict[str, int]:
    """Standard guides for every demo item; declared variances where the demo has them."""
    for item in demo_data.ITEMS:
        std.put_standard_guide(
            db_session=db_session, actor=SYSTEM_ACTOR, basic_code=item.basic_code,
            guide=StandardGuide.model_validate(demo_data.build_standard_guide(item)),
            note="演示数据 / demo data")
    declared = 0
    done: set[tuple[str, str]] = set()
    for rule in demo_data.LOCAL_DIFFERENCES:
        if not rule.legal_basis or (rule.basic_code, rule.region_code) in done:
            continue
        done.add((rule.basic_code, rule.region_code))
        reasons = [r for r in demo_data.LOCAL_DIFFERENCES
                   if (r.basic_code, r.region_code) == (rule.basic_code, rule.region_code)]
        diff = std.diff_item(db_session=db_session, basic_code=rule.basic_code,
                             regions=[rule.region_code])
        for column in diff.columns:
            if column.region_code != rule.region_code:
                continue
            for difference in column.differences:
                variance = std.propose_variance(
                    db_session=db_session, actor=SYSTEM_ACTOR, basic_code=rule.basic_code,
                    region_code=rule.region_code, key=difference.key,
                    reason=";".join(r.reason for r in reasons),
                    legal_basis=rule.legal_basis)
                std.decide_variance(db_session=db_session, actor=SYSTEM_ACTOR,
                                    variance_id=variance.id, action="approve",
                                    approver=rule.approver, note="演示数据 / demo data")
                declared += 1
    return {"standard_guides": len(demo_data.ITEMS), "declared": declared}
