"""Act: alerts on feedback and metrics, cases with SLAs and escalation, action plans with their
measured effect (step 4 of customer experience management)."""
