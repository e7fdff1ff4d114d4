"""What every layer may share, and which imports nothing else from qb_pipeline: the QuickBooks port (what
the sync rules ask of QuickBooks) and the errors it raises, the QuickBooks entities by name, the stored
tokens a connection needs, the company's time zone, and the default of every setting (defaults.py)."""
