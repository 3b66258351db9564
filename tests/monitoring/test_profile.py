"""The reference profile in the bundle: what training writes, and older bundles."""

from __future__ import annotations

import json

import pytest

from monitoring.profile import Profile, read_profile


@pytest.mark.task(
    "binary"
)  # a binary profile's fields; the tasks': test_task_monitoring.py
def test_the_profile_carries_the_slice_rules_training_judged_slices_by(
    loaded_model, typed
):
    rules = read_profile(loaded_model).slice_rules
    trained = typed.evaluate.slices
    assert rules is not None
    assert rules.min_support == trained.min_support
    assert rules.f1_margin == trained.f1_margin
    assert rules.min_positives == trained.min_positives


@pytest.mark.task(
    "binary"
)  # a binary profile's fields; the tasks': test_task_monitoring.py
def test_a_profile_written_before_slice_rules_loads_and_keeps_its_bytes(loaded_model):
    current = json.loads(read_profile(loaded_model).to_bytes())
    del current["slice_rules"]
    older = Profile.from_json(current)
    assert older.slice_rules is None
    text = json.dumps(current, indent=1, sort_keys=True) + "\n"
    assert older.to_bytes() == text.encode("utf-8")


@pytest.mark.task(
    "binary"
)  # a binary profile's fields; the tasks': test_task_monitoring.py
def test_a_profile_round_trips_through_its_bytes(loaded_model):
    profile = read_profile(loaded_model)
    assert Profile.from_json(json.loads(profile.to_bytes())) == profile
