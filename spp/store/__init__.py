"""PostGIS store: private cluster lifecycle, schema from the catalogue, atomic versioned loads."""
