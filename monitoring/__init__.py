"""Model monitoring outside the service: alert rules and dashboard (`alerts`), the
drift report from captured records (`report`)."""
