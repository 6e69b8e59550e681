"""Raw -> Parquet: the one table schema, the storage layout, the local DuckDB ETL and the Glue job."""
