"""What the server tells its operators while it runs: metrics and structured logs (issue 16;
docs/operations.md).  Low in the layers, beside the settings, so that every part of the
server (views, domain, worker, outbox) can count and log through it."""
