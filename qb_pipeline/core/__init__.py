"""What every layer may share, and which imports nothing else from qb_pipeline: the default of every
setting (defaults.py)."""
