"""NGSI-LD context information management (ETSI GS CIM 009)."""
