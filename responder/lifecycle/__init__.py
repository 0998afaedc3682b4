"""What happens to an incident over time: single-flight assessments, the settle rules, what changed, maintenance."""
