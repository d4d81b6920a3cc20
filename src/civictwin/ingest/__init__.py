"""Ingestion: MQTT device messages and CSV / Excel / GeoJSON files become entity updates."""
