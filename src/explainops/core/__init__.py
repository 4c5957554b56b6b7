"""Building blocks shared by jobs: configurable components, output tables, aggregation."""
