"""`qb-pipeline` subcommands, one module per group."""
