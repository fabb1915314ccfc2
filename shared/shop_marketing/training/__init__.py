"""Training: labelled data (validation, kept and uploaded files) and fine-tuning jobs."""
