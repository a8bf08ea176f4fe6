"""The training worker: PEFT fine-tuning jobs from `training.requested`, tracked in MLflow."""
