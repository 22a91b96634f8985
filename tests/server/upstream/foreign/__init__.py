"""The parts of the foreign custodian test server; import it from ``foreign_custodian``."""
