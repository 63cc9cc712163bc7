"""The categories a ticket is filed under, each with its time limit in working days.

66号 asks that limits be set "科学" per kind of request and national standards for the
classification are still planned, so these are the node's defaults, changed by the
operator (`tongban supervision complaints category`): urgent utilities within a working
day, a consultation within one, a general request within five, a complex one within
fifteen (Beijing's 接诉即办 practice, counted in working days here).
"""

from __future__ import annotations

DEFAULT_CATEGORIES: dict[str, tuple[str, int]] = {
    "utilities": ("水电气热", 1),
    "consultation": ("政策咨询", 1),
    "service": ("政务服务投诉", 5),
    "general": ("一般诉求", 5),
    "complex": ("复杂诉求", 15),
}
