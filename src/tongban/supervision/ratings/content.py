"""What a rating says: the five levels and the indicators, as the notice and its standard
set them.

国办发〔2019〕51号 names five levels, 非常满意 to 非常不满意; 差评 are the bottom two.
The indicators are those of the 好差评 specifications under GB/T 39734-2020 (online:
整体满意度, 办事效率, 办事指南精确度, 办事便捷度, 平台操作性; at a window: 整体满意度,
服务效率, 服务水平, 服务态度). The content is version-managed and the same everywhere, so
each rating records the version it was given under.
"""

from __future__ import annotations

from enum import StrEnum

CONTENT_VERSION = "gbt39734-2020/1"

LEVELS: dict[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_LEVELS = frozenset({1, 2})  # 差评 = 不满意 + 非常不满意
GOOD_LEVELS = frozenset({4, 5})  # 好评 = 非常满意 + 满意


class Channel(StrEnum):
    """Where the rating was given (51号: every channel is covered)."""

    online = "online"  # PC portal
    app = "app"
    mini_program = "mini_program"
    window = "window"  # 评价器 at the counter
    sms = "sms"
    qr = "qr"  # 二维码
    hotline = "hotline"  # 12345


CHANNEL_LABELS: dict[str, str] = {
    Channel.online: "网上办事大厅", Channel.app: "移动端", Channel.mini_program: "小程序",
    Channel.window: "窗口评价器", Channel.sms: "短信", Channel.qr: "二维码",
    Channel.hotline: "12345热线",
}
# 现场服务"一次一评": each window visit is rated on its own; 网上服务"一事一评": the
# matter once.
ON_SITE_CHANNELS = frozenset({Channel.window})

ONLINE_INDICATORS: dict[str, str] = {
    "overall": "整体满意度", "efficiency": "办事效率", "guide_accuracy": "办事指南精确度",
    "convenience": "办事便捷度", "usability": "平台操作性",
}
WINDOW_INDICATORS: dict[str, str] = {
    "overall": "整体满意度", "efficiency": "服务效率", "skill": "服务水平",
    "attitude": "服务态度",
}


def indicators_for(channel: str) -> dict[str, str]:
    """The indicators a rating by this channel answers."""
    return WINDOW_INDICATORS if channel in ON_SITE_CHANNELS else ONLINE_INDICATORS


def is_bad(level: int) -> bool:
    """差评: the bottom two levels."""
    return level in BAD_LEVELS
