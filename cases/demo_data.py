"""The Jincheng demo's tables (cases/demo.py builds them): the report's figures, the units,
and each ledger's cases as (title, unit, deadline in days from the demo's day, status)."""

from .models import Case
from .workflow import Status

COUNTIES = ["城区", "泽州县", "高平市", "阳城县", "陵川县", "沁水县"]
# The city and six counties' 263 licensing items admitted to the service halls.
ITEMS_263 = {
    "市本级": 45,
    "城区": 36,
    "泽州县": 42,
    "高平市": 38,
    "阳城县": 37,
    "陵川县": 33,
    "沁水县": 32,
}
# The 56 admitted of the 58 items, by method; the 2 others went on the negative list.
METHODS_56 = [
    (Case.Method.WINDOW_AUTHORISATION, 24),
    (Case.Method.NEW_WINDOW, 18),
    (Case.Method.ENTRUSTED, 14),
]
VERIFY_HALL = ["窗口是否真正运行", "网上信息是否公布", "一次性告知书、办事指南是否公示"]
LICENCES = [
    "取水许可",
    "建设工程消防验收",
    "城市建筑垃圾处置核准",
    "公路超限运输许可",
    "食品生产许可",
    "医疗机构执业登记",
    "采矿权登记",
    "林草种子生产经营许可",
    "文物保护单位建设工程审批",
    "人防工程建设审批",
    "燃气经营许可",
    "排污许可",
    "特种设备使用登记",
    "拆除临时建筑审批",
    "城市道路占用挖掘许可",
    "户外广告设置审批",
    "水土保持方案审批",
    "河道管理范围内建设审批",
]
CITY_DEPARTMENTS = [
    "晋城市水务局",
    "晋城市住房和城乡建设局",
    "晋城市交通运输局",
    "晋城市卫生健康委员会",
    "晋城市自然资源局",
    "晋城市生态环境局",
]
WANGMANGLING = [
    # (project, outcome): the report's 3 + 1 + 2 + 2.
    ("王莽岭游客服务中心提升项目", "completed"),
    ("王莽岭景区环线道路改造项目", "completed"),
    ("王莽岭景区停车场扩建项目", "completed"),
    ("王莽岭景区供水工程", "near"),
    ("王莽岭景区锡崖沟索道站项目", "land"),
    ("王莽岭景区营盘村安置区项目", "land"),
    ("王莽岭景区观景平台项目", "policy"),
    ("王莽岭景区生态停车场项目", "policy"),
]

# When the inspections fed back: about seven and a half months before the demo's day.
CREATED = -230
# Each 王莽岭 project's deadline (days from the demo's day) by its outcome.
PROJECT_DEADLINES = {"completed": -20, "near": 5, "land": 20, "policy": 20}
# The methods of the 263 items, in turn.
HALL_METHODS = [Case.Method.WINDOW_AUTHORISATION, Case.Method.NEW_WINDOW, Case.Method.ENTRUSTED]
# The six key difficult problems under special report: (title, unit, deadline, status).
KEY_PROBLEMS = [
    ("晋城经济技术开发区低效土地利用问题", "晋城经济技术开发区", 30, Status.IN_PROGRESS),
    (
        "市市场监管局开发区分局审批权与监管权未完全分离",
        "市市场监管局开发区分局",
        -8,
        Status.IN_PROGRESS,
    ),
    ("（示例）城区老旧小区改造项目审批久拖未决", "城区行政审批服务管理局", 4, Status.SUBMITTED),
    (
        "（示例）泽州县工业园区历史遗留用地手续不全",
        "泽州县规划和自然资源局",
        45,
        Status.ESCALATED,
    ),
    ("（示例）阳城县矿山生态修复责任主体不明确", "阳城县规划和自然资源局", -15, Status.OPEN),
    (
        "（示例）沁水县煤层气项目审批服务效率不高",
        "沁水县行政审批服务管理局",
        60,
        Status.IN_PROGRESS,
    ),
]
# Cultivated land: 12 problems in turn over the counties and topics; these three stay open
# (status, deadline), the others close: 9 of 12, 75%.
LAND_TOPICS = ["违法占用耕地建房", "永久基本农田“非粮化”", "耕地占补平衡落实不到位"]
OPEN_LAND = {1: (Status.IN_PROGRESS, -10), 6: (Status.IN_PROGRESS, 3), 10: (Status.OPEN, 40)}
LATE_LAND = (3, 8)  # two closed after their deadline
# Work safety, under way: (title, unit, deadline, status).
SAFETY_CASES = [
    ("高平市政务大厅消防通道堵塞", "高平市政务服务中心", 6, Status.IN_PROGRESS),
    ("城区燃气管网老化隐患排查不彻底", "城区应急管理局", -5, Status.IN_PROGRESS),
    ("泽州县非煤矿山安全监管不到位", "泽州县应急管理局", 25, Status.OPEN),
    ("阳城县危化品企业风险分级管控缺失", "阳城县应急管理局", -3, Status.OPEN),
    ("陵川县景区游乐设施安全检查流于形式", "陵川县应急管理局", 2, Status.SUBMITTED),
    ("沁水县道路交通安全隐患整治滞后", "沁水县应急管理局", 50, Status.IN_PROGRESS),
    ("市应急管理局安全生产执法检查计划未落实", "晋城市应急管理局", -40, Status.COMPLETED),
    ("城区建筑施工安全专项整治不到位", "城区应急管理局", -40, Status.COMPLETED),
    ("高平市煤矿安全隐患整改不闭环", "高平市应急管理局", -40, Status.COMPLETED),
    ("泽州县消防安全责任制落实不到位", "泽州县应急管理局", -40, Status.COMPLETED),
]
DEMO_INSPECTIONS = ["YS2023", "ZGFA2023", "ZDNN2023", "GDBH2023", "AQSC2023", "XSTZ2023"]
REDATE_REASON = "演示数据：时限随日期顺延，与今天保持原有间隔。"
# The flags of a commission (纪委监委): it supervises, it is not itself a responsible unit.
SUPERVISING_BODY = {"is_supervising_body": True, "is_responsible_unit": False}
