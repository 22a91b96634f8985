"""The Single Statewide Tool services (Title 20 CCR 1623(c)(1)(A)-(D)) on the ESPI server.

Each utility-specific part is an adapter behind a small interface (docs/utility-integration.md):
the rate catalog (RINs, eligible rates), the bill comparison source (the rate-analysis tool),
the billing backend (rate changes) and the notifier (customer e-mail).  The modules here hold
the interfaces, the sample implementations and the workflow around them.
"""
