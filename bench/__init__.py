"""Benchmarks of the template: each script measures one goal; `make bench` runs all."""
