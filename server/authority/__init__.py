"""The central authority (issue 20): qualifies ASPs, publishes the signed list."""
