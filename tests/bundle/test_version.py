"""The model version names every file the bundle lists, the graph that scores included."""

from __future__ import annotations

import json
import re
import shutil

import onnx
import pytest

from bundle.files import sha256_bytes
from bundle.format import BundleError, read_metadata
from bundle.store import load_bundle
from testkit.markers import not_for_this_data


@pytest.fixture
def bundle(model_dir, tmp_path):
    """A private copy of the session's bundle, free to change."""
    return shutil.copytree(model_dir, tmp_path / "model")


def replace_file(bundle, role: str, data: bytes) -> None:
    """Write `data` as the file of `role` and record its hash, as a retrain would."""
    meta = json.loads((bundle / "metadata.json").read_text())
    (bundle / meta["files"][role]["file"]).write_bytes(data)
    meta["files"][role]["sha256"] = sha256_bytes(data)
    (bundle / "metadata.json").write_text(json.dumps(meta))


def test_the_exported_version_is_the_one_the_loader_serves(model_dir):
    meta = read_metadata(model_dir)
    assert load_bundle(model_dir).version == meta.version
    assert re.fullmatch(
        re.escape(meta.model["candidate"]) + "-[0-9a-f]{12}", meta.version
    )


def test_a_changed_scoring_graph_with_its_hash_recorded_is_served_under_a_new_version(
    bundle, loaded_model
):
    graph = loaded_model.predictor.graph
    assert graph == "classifier_graph"  # the file the service scores with
    path = bundle / read_metadata(bundle).files[graph].file
    changed = onnx.load_from_string(path.read_bytes())
    changed.doc_string = "the same classifier, retrained"  # other bytes, same scores
    replace_file(bundle, graph, changed.SerializeToString())
    reloaded = load_bundle(bundle)
    assert reloaded.version != loaded_model.version
    assert reloaded.version.startswith(loaded_model.metadata.candidate + "-")


@pytest.mark.parametrize("role", ["pipeline_graph", "reference_profile"])
def test_any_other_listed_file_changed_changes_the_version_too(
    bundle, loaded_model, role
):
    files = read_metadata(bundle).files
    if role not in files:  # a bundle may list no reference profile (older bundles)
        not_for_this_data(f"the bundle has no {role}")
    path = bundle / files[role].file
    data = path.read_bytes()
    if role == "pipeline_graph":
        changed = onnx.load_from_string(data)
        changed.doc_string = "changed"
        data = changed.SerializeToString()
    else:
        data = json.dumps(json.loads(data), indent=1).encode()
    replace_file(bundle, role, data)
    assert load_bundle(bundle).version != loaded_model.version


def test_a_new_bundle_is_format_3_and_a_format_2_bundle_is_still_served(bundle):
    # Format 3 added keys format 2 code would ignore (rare categories, unseen, imputed
    # values): such code must refuse it. This code still serves a format 2 bundle, say
    # one `make rollback` restored, under the same version.
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["format"] == 3
    served = load_bundle(bundle)
    meta["format"] = 2
    (bundle / "metadata.json").write_text(json.dumps(meta))
    old = load_bundle(bundle)
    assert old.version == served.version and old.metadata.format == 2


def test_a_bundle_of_an_unknown_format_is_refused_naming_the_formats_read(bundle):
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["format"] = 1
    (bundle / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"bundle format 1, this code reads 2 or 3"):
        load_bundle(bundle)
