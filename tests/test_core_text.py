"""Text-level pieces: normalisation, filters, corpus readers, recipes and decontamination, the tokenizer."""

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from translate.config import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from translate.corpus import (
    CorpusSpec,
    FilterStats,
    clean,
    mix,
    read_corpus,
    read_hf,
    read_lines,
    read_parallel,
    read_tsv,
    reject_reason,
)
from translate.errors import UserError
from translate.normalize import match_key, normalize
from translate.recipe import build_training_pairs, load_recipe, reweight
from translate.tokenizer import Tokenizer

DATA = Path(__file__).parent / "data"
HINDI = DATA.joinpath("tiny.hi").read_text(encoding="utf-8").splitlines()
ENGLISH = DATA.joinpath("tiny.en").read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# --- normalisation -------------------------------------------------------------------------------------------


def test_normalize_unifies_nukta_quotes_and_spaces():
    assert normalize("\u095b") == normalize("\u091c\u093c")  # precomposed and decomposed za
    assert normalize("  \u201cHello\u201d \t  \u2018world\u2019 \n") == "\"Hello\" 'world'"
    assert normalize("वह घर गया।") == "वह घर गया।"  # the danda stays
    assert normalize("a\u00a0\u00a0b") == "a b"
    assert normalize("\u2581") == "" and normalize("नमस्ते\u2581दुनिया") == "नमस्ते दुनिया"  # SentencePiece's space mark


def test_normalize_drops_invisible_characters_but_keeps_joiners_in_devanagari():
    assert normalize("\ufeffab\u200bc\u00ad\x07") == "abc"
    assert normalize("क्\u200dष") == "क्\u200dष"  # ZWJ after Devanagari shapes a conjunct
    assert normalize("a\u200db\u200cc") == "abc"  # after Latin it is noise


def test_normalize_recomposes_after_removing_an_invisible_character():
    assert normalize("a\u200b\u0301") == "\u00e1"
    assert normalize("\u0928\u200b\u093c") == normalize("\u0928\u093c")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    "abc XYZ.,?!\"'\t\n\u00a0\u200b\u200c\u200d\ufeff\u00ad\u201c\u201d\u2018\u2019\u0301\u0300"
    "कखगजड़नरलवसह\u093c\u094d\u093e\u093f\u0940\u0902\u0901।\u0958\u095b"), max_size=30))
def test_normalize_is_idempotent_and_clean(text):
    out = normalize(text)
    assert normalize(out) == out
    assert out == out.strip() and "  " not in out
    assert unicodedata.is_normalized("NFC", out)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200c\u200d" for ch in out)


def test_match_key_ignores_case_punctuation_and_nukta():
    assert match_key("Open the DOOR!") == match_key("open the door.") == "open the door"
    assert match_key("दरवाज़ा बंद करो।") == match_key("“दरवाजा बंद करो”") == "दरवाजा बंद करो"


# --- filters -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "tgt", "reason"), [
    ("", "Hello", "empty"),
    ("नमस्ते", "", "empty"),
    ("Hello", "Hello", "script"),  # Hindi side without Devanagari
    ("नमस्ते", "नमस्ते", "script"),  # Devanagari on the English side
    ("घर " * 81, "house " * 81, "too_long"),
    ("घर", "a house that is very big", "ratio"),
    ("मेरा घर", "my house", None),
])
def test_reject_reason(src, tgt, reason):
    assert reject_reason(src.strip(), tgt.strip(), src_is_hindi=True, max_words=80, max_ratio=3.0) == reason


def test_reject_reason_checks_scripts_the_other_way_round_for_english_source():
    assert reject_reason("my house", "मेरा घर", src_is_hindi=False, max_words=80, max_ratio=3.0) is None
    assert reject_reason("मेरा घर", "my house", src_is_hindi=False, max_words=80, max_ratio=3.0) == "script"


def test_clean_normalises_dedupes_and_decontaminates():
    pairs = [("घर  है", " It is home "), ("घर है", "It is home"), ("आप कैसे हैं", "fine"), ("नया", "How are YOU?")]
    contamination = ({match_key("आप कैसे हैं?")}, {match_key("how are you")})
    stats, seen = FilterStats(), set()
    assert clean(pairs, stats, seen, contamination, src_is_hindi=True) == [("घर है", "It is home")]
    assert (stats.read, stats.kept) == (4, 1)
    assert stats.dropped == {"duplicate": 1, "contaminated": 2}
    again = FilterStats()
    assert clean([("घर है", "It is home")], again, seen, ({""}, {""}), src_is_hindi=True) == []  # first corpus wins
    assert again.dropped["duplicate"] == 1


def test_mix_applies_cap_then_weight_deterministically():
    pairs = [(f"वाक्य {i}", f"sentence {i}") for i in range(10)]
    assert len(mix(pairs, CorpusSpec("x", "x", weight=2.0), seed=1)) == 20
    assert len(mix(pairs, CorpusSpec("x", "x", weight=1.5), seed=1)) == 15
    capped = mix(pairs, CorpusSpec("x", "x", cap=4, weight=0.5), seed=1)
    assert len(capped) == 2 and set(capped) <= set(pairs)
    assert mix(pairs, CorpusSpec("x", "x", cap=4), seed=3) == mix(pairs, CorpusSpec("x", "x", cap=4), seed=3)


# --- corpus readers ------------------------------------------------------------------------------------------


def test_read_lines_splits_on_newline_only(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("one\u2028still one\r\ntwo\n\nfour".encode())
    assert read_lines(path) == ["one\u2028still one", "two", "", "four"]


def test_read_lines_reports_missing_files_and_bad_utf8(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        read_lines(tmp_path / "missing.hi")
    (tmp_path / "bad.hi").write_bytes(b"ok\nok\n\xff\xfe\n")
    with pytest.raises(UserError, match="line 3: invalid UTF-8"):
        read_lines(tmp_path / "bad.hi")


def test_read_parallel_pairs_lines_and_rejects_misalignment(tmp_path):
    src, tgt = write(tmp_path / "a.hi", HINDI[:3]), write(tmp_path / "a.en", ENGLISH[:3])
    assert read_parallel(src, tgt) == list(zip(HINDI[:3], ENGLISH[:3]))
    write(tmp_path / "a.en", ENGLISH[:2])
    with pytest.raises(UserError, match="misaligned corpus: .* has 3 lines, .* has 2"):
        read_parallel(src, tgt)


def test_read_tsv_uses_column_languages(tmp_path):
    path = write(tmp_path / "a.tsv", [f"{en}\t{hi}" for hi, en in zip(HINDI[:3], ENGLISH[:3])])
    assert read_tsv(path, ("en", "hi"), "hi", "en") == list(zip(HINDI[:3], ENGLISH[:3]))
    assert read_corpus(CorpusSpec("a", "a.tsv", format="tsv", columns=("en", "hi")), tmp_path, "hi", "en")[0] == (
        HINDI[0], ENGLISH[0])
    with pytest.raises(UserError, match="do not include both"):
        read_tsv(path, ("en", "de"), "hi", "en")
    write(tmp_path / "b.tsv", ["a\tb", "only one column"])
    with pytest.raises(UserError, match="line 2: expected 2 tab-separated columns, got 1"):
        read_tsv(tmp_path / "b.tsv", ("hi", "en"), "hi", "en")


def test_read_corpus_text_prefix_and_unknown_format(tmp_path):
    write(tmp_path / "train" / "x.hi", HINDI[:2])
    write(tmp_path / "train" / "x.en", ENGLISH[:2])
    assert read_corpus(CorpusSpec("x", "train/x"), tmp_path, "hi", "en") == list(zip(HINDI[:2], ENGLISH[:2]))
    with pytest.raises(UserError, match="unknown format 'xml'"):
        read_corpus(CorpusSpec("x", "train/x", format="xml"), tmp_path, "hi", "en")


@pytest.fixture
def offline_datasets(monkeypatch, tmp_path):
    """Hugging Face datasets without the network, caching under tmp_path."""
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    return tmp_path


def test_read_hf_translation_rows_from_local_json(offline_datasets):
    path = offline_datasets / "iitb.jsonl"
    rows = [{"translation": {"en": en, "hi": hi}} for hi, en in zip(HINDI[:3], ENGLISH[:3])]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    spec = CorpusSpec("iitb", "json", format="hf", data_files=(str(path),))
    assert read_hf(spec, "hi", "en") == list(zip(HINDI[:3], ENGLISH[:3]))
    assert read_hf(spec, "en", "hi") == list(zip(ENGLISH[:3], HINDI[:3]))
    with pytest.raises(UserError, match="translation rows need hi and de keys"):
        read_hf(spec, "hi", "de")


def test_read_hf_flat_columns_from_local_parquet(offline_datasets):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = offline_datasets / "flat.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "hi": [*HINDI[:2], None], "en": ENGLISH[:3]}), path)
    spec = CorpusSpec("flat", "parquet", format="hf", data_files=(str(path),))
    assert read_corpus(spec, Path("/nonexistent"), "hi", "en") == [*zip(HINDI[:2], ENGLISH[:2]), ("", ENGLISH[2])]
    with pytest.raises(UserError, match="has no column"):
        read_hf(spec, "hi", "fr")
    with pytest.raises(UserError, match="cannot load dataset"):
        read_hf(CorpusSpec("gone", "parquet", format="hf", data_files=(str(path) + ".missing",)), "hi", "en")


def test_unreachable_hub_dataset_is_a_user_error(tmp_path):
    code = ("from translate.corpus import CorpusSpec, read_hf\n"
            "read_hf(CorpusSpec('iitb', 'cfilt/iitb-english-hindi', format='hf'), 'hi', 'en')")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode != 0
    assert "UserError: cannot load dataset cfilt/iitb-english-hindi" in proc.stderr


# --- recipes and decontamination -----------------------------------------------------------------------------

RECIPE = """
src_lang = "hi"
tgt_lang = "en"
dev = ["eval/dev"]
decontaminate = ["eval/test"]

[[corpus]]
path = "train/a"

[[corpus]]
name = "tsv"
path = "train/b.tsv"
format = "tsv"
columns = ["en", "hi"]
weight = 2

[[corpus]]
path = "train/c"
cap = 4
weight = 0.5

[model]
emb_dim = 16

[train]
max_steps = 5
"""


@pytest.fixture
def recipe_dir(tmp_path) -> Path:
    """A data directory with three corpora (text, TSV, capped text) and two evaluation sets."""
    a = [("मैं घर जा रहा हूँ।", "I am going home."), ("वह पढ़ता है।", "He reads."), ("यह लाल है।", "This is red."),
         ("मैं घर जा रहा हूँ।", "I am going home."),  # duplicate
         ("", "Nothing"),  # empty
         ("Hello there", "Hello there"),  # script
         ("“आप  कैसे हैं”", "How are you doing today"),  # source is the dev sentence after normalisation
         ("खिड़की खोलो", "OPEN THE DOOR!")]  # target is the test sentence after normalisation
    write(tmp_path / "train" / "a.hi", [s for s, _ in a])
    write(tmp_path / "train" / "a.en", [t for _, t in a])
    b = [("पानी ठंडा है।", "The water is cold."), ("वह पढ़ता है।", "He reads."), ("चलो चलें।", "Let us go."),
         ("बारिश हो रही है।", "It is raining.")]
    write(tmp_path / "train" / "b.tsv", [f"{en}\t{hi}" for hi, en in b])
    write(tmp_path / "train" / "c.hi", [f"वाक्य {i}" for i in range(10)])
    write(tmp_path / "train" / "c.en", [f"sentence {i}" for i in range(10)])
    write(tmp_path / "eval" / "dev.hi", ["आप कैसे हैं?"])
    write(tmp_path / "eval" / "dev.en", ["How are you?"])
    write(tmp_path / "eval" / "test.hi", ["दरवाज़ा खोलो।"])
    write(tmp_path / "eval" / "test.en", ["Open the door."])
    (tmp_path / "recipe.toml").write_text(RECIPE, encoding="utf-8")
    return tmp_path


def test_load_recipe_reads_corpora_eval_sets_and_settings(recipe_dir):
    recipe = load_recipe(recipe_dir / "recipe.toml", recipe_dir)
    assert [c.name for c in recipe.corpora] == ["a", "tsv", "c"]
    assert recipe.corpora[1] == CorpusSpec("tsv", "train/b.tsv", format="tsv", weight=2.0, columns=("en", "hi"))
    assert (recipe.corpora[2].cap, recipe.corpora[2].weight) == (4, 0.5)
    assert [(e.name, e.src, e.tgt) for e in recipe.dev] == [
        ("dev", recipe_dir / "eval" / "dev.hi", recipe_dir / "eval" / "dev.en")]
    assert recipe.decontaminate[0].name == "test"
    assert (recipe.model, recipe.train) == ({"emb_dim": 16}, {"max_steps": 5})


def test_build_training_pairs_counts_filters_weights_and_caps(recipe_dir, capsys):
    recipe = load_recipe(recipe_dir / "recipe.toml", recipe_dir)
    pairs = build_training_pairs(recipe, recipe_dir, seed=1)
    table = {row.split()[0]: [int(c) for c in row.split()[1:]]
             for row in capsys.readouterr().err.splitlines() if row.split()[:1] in (["a"], ["tsv"], ["c"], ["TOTAL"])}
    # read, empty, script, too_long, ratio, duplicate, contaminated, kept, mixed
    assert table["a"] == [8, 1, 1, 0, 0, 1, 2, 3, 3]
    assert table["tsv"] == [4, 0, 0, 0, 0, 1, 0, 3, 6]  # a pair already in corpus a is a duplicate
    assert table["c"] == [10, 0, 0, 0, 0, 0, 0, 10, 2]  # capped to 4, then weight 0.5
    assert table["TOTAL"] == [22, 1, 1, 0, 0, 2, 2, 16, 11]
    assert len(pairs) == 11
    assert pairs[:3] == [(normalize(s), t) for s, t in [("मैं घर जा रहा हूँ।", "I am going home."),
                                                        ("वह पढ़ता है।", "He reads."), ("यह लाल है।", "This is red.")]]
    assert not any("कैसे" in s or "door" in t.lower() for s, t in pairs)
    assert pairs == build_training_pairs(recipe, recipe_dir, seed=1)


def test_reweight_changes_only_the_named_corpora(recipe_dir, capsys):
    recipe = load_recipe(recipe_dir / "recipe.toml", recipe_dir)
    heavier = reweight(recipe, {"a": 3.0, "c": 0.0})
    assert [c.weight for c in heavier.corpora] == [3.0, 2.0, 0.0]
    assert len(build_training_pairs(heavier, recipe_dir, seed=1)) == 3 * 3 + 6
    with pytest.raises(UserError, match="no corpus named x in the recipe \\(it has a, tsv, c\\)"):
        reweight(recipe, {"x": 1.0})


def test_recipe_that_filters_everything_is_an_error(recipe_dir):
    write(recipe_dir / "train" / "a.hi", ["आप कैसे हैं"])
    write(recipe_dir / "train" / "a.en", ["fine"])
    (recipe_dir / "one.toml").write_text('dev = ["eval/dev"]\n[[corpus]]\npath = "train/a"\n', encoding="utf-8")
    with pytest.raises(UserError, match="empty after filtering"):
        build_training_pairs(load_recipe(recipe_dir / "one.toml", recipe_dir), recipe_dir, seed=1)


@pytest.mark.parametrize(("text", "message"), [
    ("dev = []\n", "no \\[\\[corpus\\]\\] entries"),
    ("[[corpus]]\npath = 'x'\nweigth = 2\n", "corpus x: unknown setting weigth"),
    ("[[corpus]]\npath = 'x'\nweight = 'heavy'\n", "weight must be float"),
    ("[[corpus]]\npath = 'x'\ncap = -1\n", "cap must not be negative"),
    ("[[corpus]]\npath = 'x'\ncolumns = ['hi', 2]\n", "columns must be a list of strings"),
    ("[[corpus]]\nname = 'x'\n", "needs a path"),
    ("[[corpus]\n", "recipe .*recipe.toml"),
])
def test_bad_recipes_are_user_errors(tmp_path, text, message):
    (tmp_path / "recipe.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_recipe(tmp_path / "recipe.toml", tmp_path)


def test_missing_recipe_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read recipe"):
        load_recipe(tmp_path / "nope.toml", tmp_path)


def test_shipped_recipe_parses():
    recipe = load_recipe(Path(__file__).parent.parent / "corpora" / "hi-en.toml", Path("data"))
    assert (recipe.src_lang, recipe.tgt_lang) == ("hi", "en")
    assert recipe.corpora and recipe.dev and recipe.decontaminate


# --- tokenizer -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers() -> tuple[Tokenizer, Tokenizer]:
    return Tokenizer.train(map(normalize, HINDI), 100), Tokenizer.train(map(normalize, ENGLISH), 100)


@pytest.mark.parametrize("side", [0, 1])
def test_tokenizer_round_trip(tokenizers, side):
    tok = tokenizers[side]
    lines = [HINDI, ENGLISH][side]
    novel = ["मेरा नाम क्या है? यह घर अच्छा है।", "What is the name of my house?"][side]
    for text in [*map(normalize, lines), novel]:
        ids = tok.encode(text)
        assert ids and all(i > EOS_ID for i in ids)  # never pad/unk/bos/eos for known characters
        assert tok.decode(ids) == text


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(sorted({w for line in HINDI for w in normalize(line).split()})), min_size=1))
def test_tokenizer_round_trip_on_any_hindi_word_sequence(tokenizers, words):
    text = " ".join(words)
    assert tokenizers[0].decode(tokenizers[0].encode(text)) == text


def test_tokenizer_special_ids_and_unknowns(tokenizers):
    tok = tokenizers[1]
    assert [tok.sp.id_to_piece(i) for i in (PAD_ID, UNK_ID, BOS_ID, EOS_ID)] == ["<pad>", "<unk>", "<s>", "</s>"]
    ids = tok.encode("I am 中 fine")
    assert UNK_ID in ids
    assert tok.decode(ids) == "I am fine"  # unknown pieces are dropped, not shown as ⁇
    assert tok.encode_batch(["I am", "Thank you."]) == [tok.encode("I am"), tok.encode("Thank you.")]


def test_tokenizer_save_load(tokenizers, tmp_path):
    tokenizers[0].save(tmp_path / "src.model")
    loaded = Tokenizer.load(tmp_path / "src.model")
    assert len(loaded) == len(tokenizers[0])
    assert loaded.encode(normalize(HINDI[3])) == tokenizers[0].encode(normalize(HINDI[3]))
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot load tokenizer"):
        Tokenizer.load(tmp_path / "bad.model")
    with pytest.raises(UserError, match="cannot load tokenizer"):
        Tokenizer.load(tmp_path / "missing.model")
