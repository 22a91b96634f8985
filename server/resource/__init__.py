"""The ESPI resource API: Green Button Connect data as Atom XML (NAESB REQ.21, ESPI 1_1).

``/espi/1_1/resource/...`` -- the subscription tree (UsagePoint, MeterReading,
IntervalBlock, UsageSummary, ElectricPowerQualitySummary), the shared ReadingType and
LocalTimeParameters, the Batch/Subscription feed, Authorization, ReadServiceStatus and
the ASP-level ApplicationInformation and Batch/Bulk.  Every body is written by
``espi_sst.serialize`` and is valid against the official ESPI 4.0 schemas; every error is
JSON (``errors.py``).

Layout: ``routes.py`` (views, scope per resource), ``asp_routes.py`` (Authorization,
ApplicationInformation, Batch/Bulk, ReadServiceStatus), ``access.py`` (lookups through the
grant), ``query.py`` (query parameters), ``blocks.py`` (IntervalBlocks per local day),
``build.py`` / ``build_asp.py`` (rows -> espi_sst entries), ``subscription.py`` (the
subscription feed), ``atom_stream.py`` / ``feed_response.py`` (the big feeds written as a
stream, gzip on request), ``conditional.py`` (their ETags and 304), ``urls.py`` (hrefs),
``errors.py``.

Bind it with ``init_app(app)`` in ``create_app``.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from espi_sst.scope import Category

from ..sst import phases
from . import asp_routes, sst_routes  # noqa: F401  (register their views on bp)
from .errors import not_found
from .routes import bp
from .urls import PREFIX, Urls, resource_base


def init_app(app: Flask) -> None:
    """Register the resource API blueprint on the app.

    The API authenticates each request by its bearer token, never by a cookie, so CSRF
    protection (Flask-WTF, when the app uses it) does not apply: the blueprint is exempt.
    """
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


@bp.before_request
def _deployment_mode() -> Response | None:
    """The app's mode, read per request (the blueprint is shared by every app in a process).

    * ``SST_ENABLED`` false (a plain GBC custodian): the SST resources and the ``?SST=``
      query do not exist here;
    * ``SST_PHASE`` (concept design 6.1): a function of a later phase answers 404 with a
      JSON body saying it is not offered yet (``sst/phases.py``);
    * ``UPSTREAM_RESOURCE_URL`` set (bolt-on mode): plain ESPI requests go upstream.
    """
    config = current_app.config
    if not config.get("SST_ENABLED", True) and (
        request.endpoint in sst_routes.ENDPOINTS or "SST" in request.args
    ):
        raise not_found("resource")
    function = sst_routes.CATEGORY_OF_ENDPOINT.get(request.endpoint or "")
    if function is None and "SST" in request.args:  # UsageSummary?SST=BillComparison (11.5)
        function = Category.SST_BILL_COMPARISON
    if function is not None and function not in phases.offered(config):
        raise phases.not_offered(function, config)  # 404 JSON, before the token is read
    if config.get("UPSTREAM_RESOURCE_URL"):
        from ..upstream.views import forward_plain_request

        return forward_plain_request()
    return None


__all__ = ["PREFIX", "Urls", "bp", "init_app", "resource_base"]
