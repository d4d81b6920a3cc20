"""The DCAT-AP catalogue: what the twin holds, what participants publish, what is harvested."""

from civictwin.catalog.catalogue import Catalogue, Refresh
from civictwin.catalog.model import ContactPoint, DataService, Dataset, Distribution
from civictwin.catalog.validate import InvalidDataset

__all__ = ["Catalogue", "ContactPoint", "DataService", "Dataset", "Distribution",
           "InvalidDataset", "Refresh"]
