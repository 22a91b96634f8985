"""Schema validity of every ESPI body the run collected: the official ESPI 4.0 schemas
(espi.xsd, customer.xsd, Atom) and our SST extension schema, as one set.

Schema only (``validate(..., sst_rules=False)``): a wrong RIN role or a comparison valid too
long is a semantic SST error the SST scenarios fail, so one breakage fails one scenario.
A run that collected nothing (``--only schema``) fetches the primary grant's Batch feed.
"""

from __future__ import annotations

from ...errors import EspiError
from ...validation import validate
from ..context import Context
from ..registry import scenario

SHOWN_ISSUES = 3


@scenario(
    "ESPI-SCHEMA",
    "Every ESPI body served is valid against the ESPI 4.0, customer and SST schemas",
    references=(
        "NAESB REQ.21 (ESPI 4.0) espi.xsd, customer.xsd",
        "RFC 4287 (Atom)",
        "concept design Appendix B (SST extension schema)",
        "GBA certification: schema validation of every download",
    ),
    group="schema",
)
def every_body_is_schema_valid(ctx: Context) -> None:
    if not ctx.documents:
        grant = ctx.grant()
        if not grant.resource_uri:
            ctx.fail("the token response has no resourceURI to fetch a feed from")
        ctx.expect_xml(ctx.fetch(grant.resource_uri, grant.access_token), "Batch/Subscription")
    invalid: list[str] = []
    for url, body in ctx.documents.items():
        try:
            issues = [str(i) for i in validate(body, profile="sst", sst_rules=False)]
        except EspiError as exc:  # not well-formed, or beyond the reader's limits
            issues = [str(exc)]
        if issues:
            invalid.append(url)
            ctx.note(f"{url}: {len(issues)} issue(s): " + "; ".join(issues[:SHOWN_ISSUES]))
    ctx.note(f"{len(ctx.documents)} body(ies) validated, {len(invalid)} invalid")
    if invalid:
        ctx.fail(
            f"{len(invalid)} of {len(ctx.documents)} bodies are not schema-valid, first "
            f"{invalid[0]} ({ctx.notes[0].split(': ', 1)[1]})"
        )
