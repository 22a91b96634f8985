"""Bolt-on (upstream) mode: the SST beside a utility's existing Green Button Connect custodian.

With ``UPSTREAM_RESOURCE_URL`` set, this server stores no usage data.  Plain ESPI GETs
(UsagePoint, MeterReading, IntervalBlock, UsageSummary, ...) are forwarded to the existing
custodian with the ASP's own bearer token, read with the library, given the SST additions
the grant's scopes allow (RIN elements in UsageSummary, links to the SST resources on
UsagePoint) and re-based onto this server's URLs.  The SST resources themselves
(RateInformation, BillComparison, RateChangeRequest) are served here, from the utility's
rate data (the ``tariff`` table and the usage points' rate assignments, loaded by the
utility's adapters).

Tokens (``TOKEN_VALIDATION``): ``"local"`` when this server is also the authorization
server; ``"introspection"`` when the existing custodian keeps its OAuth server and consent
portal (RFC 7662: ``INTROSPECTION_URL`` with this server's own client credentials there;
the standard members suffice); ``"probe"`` when it has no introspection (the ASP's token is
tried on the addressed UsagePoint at the custodian).  Each custodian subscription has one
grant row here (``grants.py``, ``shadow.py``), so rate changes, audit rows and
notifications have something to belong to; the SST categories a custodian's consent lacks
come from the SST add-on consent (``addon.py``, ``consent.py``).

Upstream failures never hang a request: connect and read timeouts, bounded retries of
idempotent GETs, one deadline for all upstream calls of a request
(``UPSTREAM_DEADLINE_SECONDS``), a pooled connection per app; what still fails is answered 502 (bad
answer), 503 (upstream unavailable) or 504 (timed out), always with ``Retry-After``.

Layout: ``tokens.py``, ``introspection.py`` and ``probe.py`` (tokens), ``grants.py`` and
``shadow.py`` (grant rows), ``addon.py`` and ``consent.py`` (the add-on consent), ``forward.py``
(HTTP to the upstream), ``merge.py`` (SST additions and URL re-basing), ``views.py`` (the
blueprint hook that routes plain ESPI requests upstream).
"""

from __future__ import annotations
