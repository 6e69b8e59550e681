"""Benchmarks: large cached data sets, ETL throughput and explorer latency (run `python -m bench.run`)."""
