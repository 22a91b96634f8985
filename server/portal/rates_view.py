"""``/portal/rates``: the customer's RINs, as text and as QR codes (Title 20 1623(c)(4)).

What is shown comes from :mod:`.rins` (the rate catalog the resource API also asks); this
module is the route only.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from . import bp
from .rins import customer_rins
from .session import current_customer


@bp.route("/rates", methods=["GET"])
def rates() -> ResponseReturnValue:
    customer = current_customer()
    if customer is None:
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    return render_template("portal/rates.html", customer=customer, points=customer_rins(customer))
