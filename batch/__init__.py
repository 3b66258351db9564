"""Batch scoring outside the HTTP service: files of records in, files of predictions out.

`python -m batch.score` (`make score`) validates each row by the same rules as the API
(bundle/rules.py) and scores with the same bundle and engine.
"""
