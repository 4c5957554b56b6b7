"""Services a job uses around its work: alerts."""
