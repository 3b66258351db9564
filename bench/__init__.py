"""Benchmarks for census-service: each script measures one goal; `make bench` runs all."""
