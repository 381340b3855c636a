"""The peer's two routes: a bare one that touches nothing, and one that answers a small
JSON document to a request that carries a valid API key (``Authorization: Api-Key
<key>``, checked by djangorestframework-api-key's HasAPIKey), like FlagPal Dash's
``GET /api/v1/token``."""

from django.http import HttpResponse
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.response import Response


def healthz(request):
    """The process is up and answering (plain Django, no REST framework)."""
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")


@api_view(["GET"])
def token(request):
    """The key's prefix (the part before the dot), once HasAPIKey has accepted the key:
    nothing more is looked up, so the check is all the database work of the request."""
    prefix = request.headers["Authorization"].split()[-1].partition(".")[0]
    return Response({"data": {"type": "api_key", "id": prefix}})


urlpatterns = [
    path("healthz", healthz),
    path("api/v1/token", token),
]
