"""The web map: vector tiles, measures and live events from the twin, and the built page."""
