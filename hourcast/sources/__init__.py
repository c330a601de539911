"""Sources of hourly records: traffic CSVs and the OpenAQ v3 API."""
