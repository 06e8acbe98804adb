"""The words a synthetic province is made of: place names, departments, topics, problems and
what people write about them. Fixed text, in Chinese as the users write it.

None of it may contain a tab, a newline, a backslash or a double quote: the bench mode writes
it into COPY text and JSON unescaped (`synthetic.bench` checks that on import)."""

from __future__ import annotations


def _words(text: str) -> list[str]:
    """The words of a text, separated by white space."""
    return text.split()


CITY_NAMES = _words("东川市 西陵市 南屏市 北原市 中阳市 清河市 云岭市 临江市 长丰市 安平市 远山市")
NAME_STEMS = list("平安清河永宁丰泽长乐新和兴广福康明华泰顺昌盛嘉禾德云阳高")
COUNTY_SUFFIXES = ["县", "县", "县", "区", "市"]
DEPARTMENTS = _words("""
    发展和改革委员会 教育局 科学技术局 工业和信息化局 公安局 民政局 司法局 财政局
    人力资源和社会保障局 自然资源局 生态环境局 住房和城乡建设局 交通运输局 水务局 农业农村局
    商务局 文化和旅游局 卫生健康委员会 退役军人事务局 应急管理局 审计局 市场监督管理局
    行政审批服务管理局 医疗保障局 林业局 能源局 统计局 城市管理局
""")
TOPICS = _words("""
    优化营商环境 惠民惠农财政补贴资金 工程建设项目招投标 耕地保护 安全生产 政务服务 乡村振兴
    生态环境保护 国有资产管理 医保基金使用
""")
PROBLEMS = _words("""
    政府采购程序不规范 专项资金拨付滞后 项目审批超过法定时限 违规发放津贴补贴 公务用车管理不严格
    台账资料不完整 惠民资金发放不及时 招投标环节监管缺位 行政许可事项未进驻政务服务大厅
    违规占用耕地问题未整改到位 安全隐患排查整治不彻底 办事指南未按要求公示 财务报销手续不完备
    工程款拖欠问题未解决 群众反映问题办理不及时 形式主义官僚主义问题突出 执法检查流于形式
    国有资产出租出借管理混乱 债务化解工作推进缓慢 干部作风问题整治不到位
""")
ITEM_PHRASES = _words("""
    取水许可 建设工程消防验收 公路超限运输许可 食品生产许可 医疗机构执业登记 排污许可 燃气经营许可
    特种设备使用登记 户外广告设置审批 城市道路占用挖掘许可 水土保持方案审批 人防工程建设审批
    采矿权登记 林草种子生产经营许可
""")
MEASURES = [
    "制定整改方案，明确责任人和完成时限。",
    "开展专项排查，建立问题台账，逐项销号。",
    "修订完善相关制度，堵塞管理漏洞。",
    "组织集中约谈，压实主体责任。",
    "对相关责任人进行批评教育，举一反三开展自查。",
]
PROGRESS = [
    "已完成问题排查，正在推进整改。",
    "已制定整改方案，完成部分整改任务。",
    "整改工作有序推进，已完成约一半。",
    "主体整改任务已完成，正在完善佐证材料。",
    "已召开专题会议研究部署整改工作。",
    "已完成制度修订，正在组织落实。",
]
# A move's possible notes, by the move's name (`cases.workflow.MOVES`).
NOTES = {
    "submit": ["整改完成，申请验收销号。", "已按要求整改到位，佐证材料已上传，申请销号。"],
    "return": ["佐证材料不充分，退回继续整改。", "整改不到位，退回重新整改。"],
    "escalate": ["涉及跨部门事项，提请上级协调。", "需上级政策支持，提请协调解决。"],
    "exempt": ["经研究纳入负面清单，不予整改。", "经核实不属于整改范围，不予整改。"],
    "reopen": ["复查发现问题反弹，重新整改。"],
    "close": ["经验收，整改到位，予以销号。", ""],
    "start": [""],
    "resume": [""],
}
DEADLINE_REASONS = [
    "涉及审批程序，需延长整改时限。",
    "受客观因素影响，经批准延期。",
    "整改任务量大，申请延期。",
]
CHECKS = _words("""
    窗口是否真正运行 网上信息是否公布 一次性告知书、办事指南是否公示 整改资金是否足额到位
    相关制度是否印发执行 现场核查是否整改到位
""")
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
GIVEN = _words("伟 芳 娜 敏 静 强 磊 军 洋 勇 艳 杰 涛 明 超 秀英 建华 志强 海燕 丽娟")

ALL_TEXTS = (
    *CITY_NAMES,
    *NAME_STEMS,
    *COUNTY_SUFFIXES,
    *DEPARTMENTS,
    *TOPICS,
    *PROBLEMS,
    *ITEM_PHRASES,
    *MEASURES,
    *PROGRESS,
    *DEADLINE_REASONS,
    *CHECKS,
    *(note for notes in NOTES.values() for note in notes),
)
