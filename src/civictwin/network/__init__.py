"""A network of twins: peer cities, their catalogues, agreements and cross-city questions."""
