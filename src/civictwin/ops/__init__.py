"""Operations: health, readiness, metrics, logs, admission control, backup and restore."""
