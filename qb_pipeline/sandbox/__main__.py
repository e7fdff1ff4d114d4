from qb_pipeline.sandbox.cli import sandbox

sandbox(prog_name="python -m qb_pipeline.sandbox")
