"""MLflow helpers shared by training, evaluation and promotion: tracking, versions, aliases.

A plain package (no app.py): it is not a worker.
"""
