"""The typed hand-offs between stages: `Alert` → `Incident` → `Check` → `ClientVerdict`."""
