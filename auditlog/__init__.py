"""The `auditlog` command line: one dispatcher, commands contributed by each package."""
