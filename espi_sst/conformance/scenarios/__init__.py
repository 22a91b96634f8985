"""The scenarios, one module per group; :data:`MODULES` is the order of a run.

Discovery first (everything else needs the metadata), then OAuth, the ESPI resources, the
SST scenarios, and last the checks of every body collected on the way: the GBA
certification rules and schema validity.
"""

MODULES = ("discovery", "oauth", "resources", "sst", "certification", "schema")
