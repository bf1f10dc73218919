"""Readers for labelled text files: the shared public datasets and any CSV/TSV/JSONL (gzip too).

Labels are mapped to negative/neutral/positive by a small spec (``0=negative,1=positive`` or
``1-2=negative,3=neutral,4-5=positive``). Train/test folds come from a hash of the text, so the
held-out part is the same in every run and for every command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: Default location of the shared public datasets (override with --datasets).
SHARED = Path("/work/shared/datasets")
TEST_FOLD, N_FOLDS = 0, 5


def parse_label_map(spec: str) -> dict[str, str]:
    """``"1-2=negative,3=neutral,4-5=positive"`` -> {"1": "negative", "2": "negative", ...}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, label = item.partition("=")
        label = label.strip().lower()
        if not sep or label not in ("negative", "neutral", "positive"):
            raise ValueError(f"bad label mapping {item!r}; use e.g. 0=negative,1=positive or 1-2=negative")
        lo, dash, hi = key.strip().partition("-")
        if dash and lo.lstrip("-").isdigit() and hi.isdigit():
            for v in range(int(lo), int(hi) + 1):
                mapping[str(v)] = label
        else:
            mapping[key.strip()] = label
    return mapping


def map_labels(values: pd.Series, mapping: dict[str, str] | None) -> pd.Series:
    """Map raw labels through ``mapping`` (numbers compared as integers when whole); unmapped -> NA."""

    def norm(v: object) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    keys = values.map(norm)
    if mapping is None:
        return keys.str.lower().where(keys.str.lower().isin(["negative", "neutral", "positive"]))
    return keys.map(mapping)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV, TSV or JSONL file (optionally ``.gz``) as a DataFrame of strings."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return pd.read_json(path, lines=not name.endswith(".json"), dtype=False)
    sep = "\t" if name.endswith((".tsv", ".tab")) else ","
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])


def fold_of(texts: pd.Series) -> np.ndarray:
    """Stable fold number (0..4) of each text, from an MD5 of its content."""
    return np.array(
        [int(hashlib.md5(t.encode("utf-8")).hexdigest()[:8], 16) % N_FOLDS for t in texts], dtype=np.int64
    )


def _frame(
    text: pd.Series, label: pd.Series, language: str, dataset: str, domain: pd.Series | str
) -> pd.DataFrame:
    df = pd.DataFrame({"text": text.astype(str).str.strip().str.lstrip("\ufeff"), "label": label})
    df["language"], df["dataset"], df["domain"] = language, dataset, domain
    df = df[df["label"].notna() & (df["text"].str.len() > 0)].drop_duplicates("text")
    df["split"] = np.where(fold_of(df["text"]) == TEST_FOLD, "test", "train")
    return df.reset_index(drop=True)


def load_zh(root: Path = SHARED) -> pd.DataFrame:
    """zh_online_shopping_10_cats: label 0/1 -> negative/positive; domain = product category."""
    raw = read_table(root / "zh_online_shopping_10_cats" / "online_shopping_10_cats.csv.gz")
    raw = raw[raw["review"].notna()]
    label = map_labels(raw["label"], {"0": "negative", "1": "positive"})
    return _frame(raw["review"], label, "zh", "zh_online_shopping_10_cats", raw["cat"])


STARS = "1-2=negative,3=neutral,4-5=positive"


def load_en(root: Path = SHARED) -> pd.DataFrame:
    """en_womens_clothing_reviews: review text, rating 1-2/3/4-5 -> negative/neutral/positive."""
    raw = read_table(root / "en_womens_clothing_reviews" / "womens_clothing_ecommerce_reviews.csv.gz")
    raw = raw[raw["Review Text"].notna()]
    label = map_labels(raw["Rating"], parse_label_map(STARS))
    return _frame(
        raw["Review Text"],
        label,
        "en",
        "en_womens_clothing_reviews",
        raw["Department Name"].fillna("unknown"),
    )


#: pt: Olist product categories grouped into home goods and the rest (the problem class the
#: annotators gave follows the score, so it is no domain).
PT_GROUPS = {
    c: "home"
    for c in (
        "cama_mesa_banho",
        "moveis_decoracao",
        "utilidades_domesticas",
        "casa_construcao",
        "moveis_escritorio",
        "casa_conforto",
        "moveis_sala",
        "moveis_cozinha_area_de_servico_jantar_e_jardim",
        "moveis_quarto",
        "eletrodomesticos",
        "climatizacao",
    )
}


def load_pt(root: Path = SHARED) -> pd.DataFrame:
    """Olist hand-classified reviews (score 1-5 -> sentiment); domain = home goods or other."""
    raw = read_table(
        root / "olist_brazilian_ecommerce" / "classified_reviews" / "olist_classified_public_dataset.csv.gz"
    )
    raw = raw[raw["review_comment_message"].notna()]
    label = map_labels(raw["review_score"], parse_label_map(STARS))
    return _frame(
        raw["review_comment_message"],
        label,
        "pt",
        "olist_classified_reviews",
        raw["product_category_name"].fillna("unknown").map(lambda c: PT_GROUPS.get(c, "other")),
    )


def _keyword_domain(texts: pd.Series, rules: dict[str, str], default: str) -> pd.Series:
    """A domain per text from the first rule (name -> regex over the lower-cased text) that matches.

    For sets without a category column: a rough split into product kinds, enough to hold one kind
    out of training and measure how the model does on a kind it never saw.
    """
    low = texts.astype(str).str.lower()
    out = pd.Series(default, index=texts.index, dtype=object)
    for name, pattern in reversed(list(rules.items())):
        out = out.mask(low.str.contains(pattern, regex=True), name)
    return out


#: ja: books, films, music and games ("media") against other products.
JA_DOMAINS = {
    "media": "本|著者|作品|映画|dvd|ｄｖｄ|cd|ｃｄ|曲|小説|アルバム|読ん|読み|漫画|マンガ"
    "|ストーリー|俳優|監督|アニメ|歌|ゲーム"
}
#: ru: beauty and hair care against other products.
RU_DOMAINS = {"beauty": "шампун|крем|волос|кож|запах|аромат|маск|космет|бальзам|тушь|помад|лак"}


def load_ja(root: Path = SHARED) -> pd.DataFrame:
    """ja_amazon_reviews_binary: label 0/1; domain from keywords (``JA_DOMAINS``: media or products)."""
    raw = read_table(root / "ja_amazon_reviews_binary" / "reviews.csv.gz")
    raw = raw[raw["text"].notna()]
    label = map_labels(raw["label"], {"0": "negative", "1": "positive"})
    domain = _keyword_domain(raw["text"], JA_DOMAINS, "products")
    return _frame(raw["text"], label, "ja", "ja_amazon_reviews_binary", domain)


#: NSMC ratings 1-10: 1-4 negative (the corpus's own cut), 5-7 neutral, 8-10 positive.
KO_RATINGS = "1-4=negative,5-7=neutral,8-10=positive"


def load_ko(root: Path = SHARED) -> pd.DataFrame:
    """ko_nsmc_movie_reviews: rating 1-10 (``KO_RATINGS``); one domain, movies."""
    raw = read_table(root / "ko_nsmc_movie_reviews" / "reviews.csv.gz")
    raw = raw[raw["text"].notna()]
    label = map_labels(raw["rating"], parse_label_map(KO_RATINGS))
    return _frame(raw["text"], label, "ko", "ko_nsmc_movie_reviews", "movies")


def load_ru(root: Path = SHARED) -> pd.DataFrame:
    """ru_wildberries_reviews: 1-5 stars; domain from keywords (``RU_DOMAINS``: beauty or other)."""
    raw = read_table(root / "ru_wildberries_reviews" / "reviews.csv.gz")
    raw = raw[raw["text"].notna()]
    label = map_labels(raw["rating"], parse_label_map(STARS))
    domain = _keyword_domain(raw["text"], RU_DOMAINS, "other")
    return _frame(raw["text"], label, "ru", "ru_wildberries_reviews", domain)


LOADERS = {"zh": load_zh, "en": load_en, "pt": load_pt, "ja": load_ja, "ko": load_ko, "ru": load_ru}


def load_shared(root: str | Path = SHARED, languages: tuple[str, ...] | None = None) -> pd.DataFrame:
    """All labelled shared datasets (or those of ``languages``): text, label, language, dataset,
    domain, split (train/test)."""
    root = Path(root)
    chosen = languages or tuple(LOADERS)
    return pd.concat([LOADERS[lang](root) for lang in chosen], ignore_index=True)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (how ``text eval`` recognises a training file, wherever it lies)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: The files ``load_shared`` reads, relative to the datasets folder.
TRAINING_FILES = (
    "zh_online_shopping_10_cats/online_shopping_10_cats.csv.gz",
    "en_womens_clothing_reviews/womens_clothing_ecommerce_reviews.csv.gz",
    "olist_brazilian_ecommerce/classified_reviews/olist_classified_public_dataset.csv.gz",
    "ja_amazon_reviews_binary/reviews.csv.gz",
    "ko_nsmc_movie_reviews/reviews.csv.gz",
    "ru_wildberries_reviews/reviews.csv.gz",
)


def read_labelled(
    files: Sequence[str | Path],
    text_col: str,
    label_col: str,
    labels: str | None = None,
    *,
    lang: str | None = None,
    lang_col: str = "language",
    split: str = "auto",
    training_files: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Labelled rows (text, label, language) of ``files`` and a sentence per file saying which rows
    they are. ``split``: ``test`` keeps the held-out fold, ``all`` every row, ``auto`` the held-out
    fold of a file whose SHA-256 is in ``training_files`` (name -> digest) and every row otherwise."""
    mapping = parse_label_map(labels) if labels else None
    known = {digest: name for name, digest in (training_files or {}).items()}
    frames, said = [], []
    for path in files:
        raw = read_table(path)
        for col in (text_col, label_col):
            if col not in raw.columns:
                raise ValueError(f"{path}: no column {col!r} (columns: {', '.join(map(str, raw.columns))})")
        frame = pd.DataFrame({"text": raw[text_col], "label": map_labels(raw[label_col], mapping)})
        frame["language"] = lang or (raw[lang_col] if lang_col in raw.columns else None)
        frame = frame[frame["text"].notna() & frame["label"].notna()]
        frame["text"] = frame["text"].astype(str).str.strip().str.lstrip("\ufeff")
        frame = frame[frame["text"] != ""]
        trained = known.get(file_digest(path)) if split == "auto" else None
        if split == "test" or trained:
            before = len(frame)
            frame = frame.drop_duplicates("text")
            frame = frame[fold_of(frame["text"]) == TEST_FOLD]
            why = f"it is the training file {trained}" if trained else "--split test"
            said.append(
                f"{path}: scored the held-out fold, {len(frame):,} of {before:,} labelled rows "
                f"(md5(text) % 5 == 0: rows the model never saw; {why})"
            )
        else:
            said.append(
                f"{path}: scored all {len(frame):,} labelled rows (not a training file of this model)"
            )
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        raise ValueError("no labelled rows to evaluate (check --labels and the columns)")
    return data, said
