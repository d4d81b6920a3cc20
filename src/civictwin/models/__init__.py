"""Smart Data Models entity types (OASC MIM2) and their validation on the way in."""

from civictwin.models.validate import EntityModels

__all__ = ["EntityModels"]
