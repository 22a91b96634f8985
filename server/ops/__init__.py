"""What a utility's operations team runs and asks: health and readiness endpoints, admin
commands, the configuration check, migrations and the standalone data loader (issue 16;
docs/operations.md).  Above the HTTP layer: it may look at everything it reports on."""
