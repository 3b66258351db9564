"""`make challenger [DATA=path.csv]`: a candidate model trained from the current params
and data into its own folder, build/challenger, by the pipeline's own stages (fetch,
clean, fit, export, evaluate); model/, reports/ and MODEL_CARD.md are untouched.

The challenger's folder is a project tree of its own (training/config.py Paths rooted
there): its bundle in build/challenger/model, its reports and card beside it, its
held-out rows in build/challenger/data/processed/test.csv, which `make compare` scores
both models on; its params as it read them in build/challenger/params.yaml (make
promote writes the promoted card with them). DATA replaces data.source (the csv loader's
file) for this run only; LABELLED adds the labelled captured records `make monitor
LABELS=...` wrote to the training split (training/labelled.py).
`python -m training.challenger [--data path.csv] [--labelled labelled.csv]`
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path

import yaml

from bundle.files import write_json_atomic, write_text_atomic
from bundle.paths import ROOT
from training.config import ConfigError, Paths, load_params
from training.params import PARAMS_FILE, Params

CHALLENGER = ROOT / "build" / "challenger"
CSV_LOADER = "csv"
# The params the challenger was trained with, in its folder (training/promote.py reads).
PARAMS_NAME = "params.yaml"


def challenger_params(raw: dict, data: Path | None = None, base: Path = ROOT) -> Params:
    """The params as read, with `data` as data.source when given (csv loader only); a
    relative data.source is the project's (`base`), not the challenger folder's."""
    raw = copy.deepcopy(raw)
    source = (raw.get("data") or {}).get("source")
    if source and data is None:
        raw["data"] = {**raw["data"], "source": str((base / source).resolve())}
    if data is not None:
        section = raw.get("data") or {}
        if section.get("loader") != CSV_LOADER:
            raise ConfigError(
                f"DATA={data}: data.loader is {section.get('loader')!r}; a file of "
                f"new data replaces data.source, which only the {CSV_LOADER} loader reads"
            )
        if not data.is_file():
            raise ConfigError(f"DATA={data}: no such file")
        section = {**section, "source": str(data.resolve())}
        section.pop("wheel", None)
        section.pop("files", None)
        raw["data"] = section
    return Params.from_dict(raw)


def train_challenger(
    root: Path,
    params: Params,
    raw_from: Paths | None = None,
    labelled: Path | None = None,
) -> Paths:
    """Fetch, clean, fit, export and evaluate into the fresh project tree `root`; the
    verified raw files of `raw_from` are reused (no download to check them again), the
    rows of `labelled` join the training split."""
    from training.clean import clean_and_report, to_csv_text
    from training.evaluate import evaluate
    from training.export import export
    from training.fetch import fetch
    from training.fit import fit
    from training.labelled import add_labelled

    if labelled is not None and not labelled.is_file():
        raise ConfigError(f"LABELLED={labelled}: no such file")
    shutil.rmtree(root, ignore_errors=True)  # never a mix of two challengers' files
    paths = Paths(root=root)
    write_text_atomic(root / PARAMS_NAME, yaml.safe_dump(params.raw, sort_keys=False))
    if raw_from is not None and raw_from.raw.is_dir():
        shutil.copytree(raw_from.raw, paths.raw)
    fetch(paths, params)
    frames, report = clean_and_report(paths, params)
    if labelled is not None:
        frames["train"], report["labelled"] = add_labelled(labelled, frames, params)
    for name, frame in frames.items():
        write_text_atomic(paths.split(name), to_csv_text(frame))
    write_json_atomic(paths.cleaning, report)
    fit(paths, params)
    export(paths, params)
    evaluate(paths, params)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="a CSV replacing data.source")
    parser.add_argument(
        "--labelled", type=Path, help="labelled records (make monitor) to train on too"
    )
    parser.add_argument("--params", type=Path, default=PARAMS_FILE)
    parser.add_argument("--out", type=Path, default=CHALLENGER)
    args = parser.parse_args(argv)
    raw = load_params(args.params)
    params = challenger_params(raw, args.data, args.params.resolve().parent)
    # New data means new raw files: the champion's are reused only for the same data.
    raw_from = None if args.data else Paths()
    paths = train_challenger(args.out, params, raw_from, args.labelled)
    print(f"challenger: {paths.model_dir} (make compare judges it)")
    return 0


if __name__ == "__main__":
    from training.stage import run_stage

    sys.exit(run_stage("challenger", main))
