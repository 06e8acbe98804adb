from functools import partial
from typing import Any

from rest_framework import pagination
from rest_framework.response import Response

from ..pagination import CappedPaginator, count_cap


class PageNumberPagination(pagination.PageNumberPagination):
    """`count`, `count_exact`, `next`, `previous`, `results`; `page_size` up to 200.

    A search counts at most 1000 matches (`cases.pagination`): past that, `count` is 1000 and
    `count_exact` false.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        cap = count_cap(request.query_params)
        self.django_paginator_class = partial(  # type: ignore[assignment]
            CappedPaginator, cap=cap, search=getattr(view, "search_plan", None)
        )
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        paginator = getattr(self.page, "paginator", None)
        response.data["count_exact"] = getattr(paginator, "count_exact", True)
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        described = super().get_paginated_response_schema(schema)
        described["properties"]["count_exact"] = {
            "type": "boolean",
            "description": "False when a search matched more than 1000 cases: count is 1000.",
        }
        return described
