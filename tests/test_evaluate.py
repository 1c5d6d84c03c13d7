"""`hien evaluate`: sacreBLEU BLEU and chrF++ with signatures, test sets from a data directory, clean errors."""

import io
import json
import sys
from pathlib import Path

import pytest
import sacrebleu

from translate import cli
from translate.evaluate import format_table, score

DATA = Path(__file__).parent / "data"
SOURCES = (DATA / "tiny.hi").read_text(encoding="utf-8").splitlines()
REFERENCES = (DATA / "tiny.en").read_text(encoding="utf-8").splitlines()
KEYS = {"bleu", "chrf", "bleu_signature", "chrf_signature", "lines"}


def hien(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A hypothesis with some errors and two references."""
    hyp = [r.replace("am", "was").replace("the", "a") for r in REFERENCES]
    hyp[3] = ""
    paths = {"hyp": hyp, "ref": REFERENCES, "ref2": [r.lower() for r in REFERENCES]}
    for name, lines in paths.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {name: tmp_path / name for name in paths}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A corpora folder with two small evaluation sets (and a stray file with no pair)."""
    folder = tmp_path / "corpora" / "eval"
    folder.mkdir(parents=True)
    for name, rows in (("tiny-a", range(12)), ("tiny-b", range(12, 20))):
        (folder / f"{name}.hi").write_text("".join(SOURCES[i] + "\n" for i in rows), encoding="utf-8")
        (folder / f"{name}.en").write_text("".join(REFERENCES[i] + "\n" for i in rows), encoding="utf-8")
    (folder / "lonely.hi").write_text("x\n", encoding="utf-8")
    return folder.parent


def test_hyp_scores_equal_sacrebleu_called_directly(files, monkeypatch, capsys):
    code, out, err = hien(["evaluate", "--hyp", str(files["hyp"]), "--ref", str(files["ref"]), "--json"],
                          monkeypatch, capsys)
    assert code == 0, err
    got = json.loads(out)
    assert set(got) == KEYS
    hyp = files["hyp"].read_text(encoding="utf-8").splitlines()
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF(word_order=2)
    assert got["bleu"] == bleu.corpus_score(hyp, [REFERENCES]).score
    assert got["chrf"] == chrf.corpus_score(hyp, [REFERENCES]).score
    assert got["bleu_signature"] == str(bleu.get_signature()) and "nrefs:1" in got["bleu_signature"]
    assert got["chrf_signature"] == str(chrf.get_signature()) and "nw:2" in got["chrf_signature"]
    assert got["lines"] == len(REFERENCES)
    assert 0 < got["bleu"] < 100


def test_several_references(files, monkeypatch, capsys):
    args = ["evaluate", "--hyp", str(files["hyp"]), "--ref", str(files["ref"]), "--ref", str(files["ref2"]), "--json"]
    code, out, _ = hien(args, monkeypatch, capsys)
    hyp = files["hyp"].read_text(encoding="utf-8").splitlines()
    refs = [REFERENCES, [r.lower() for r in REFERENCES]]
    assert code == 0
    assert json.loads(out)["bleu"] == sacrebleu.corpus_bleu(hyp, refs).score
    assert "nrefs:2" in json.loads(out)["bleu_signature"]


def test_text_report_shows_scores_and_signatures(files, monkeypatch, capsys):
    code, out, _ = hien(["evaluate", "--hyp", str(files["hyp"]), "--ref", str(files["ref"])], monkeypatch, capsys)
    assert code == 0
    assert out.startswith("BLEU = ") and "chrF2++ = " in out
    assert "BLEU signature: nrefs:1|" in out and "chrF++ signature: nrefs:1|" in out


def test_translating_the_source_with_a_model(tiny_model_dir, files, monkeypatch, capsys):
    args = ["evaluate", "-m", str(tiny_model_dir), "--src", str(DATA / "tiny.hi"), "--ref", str(files["ref"]),
            "--json", "--beam", "2"]
    code, out, err = hien(args, monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["bleu"] == pytest.approx(100.0)


def test_named_test_set_and_all_sets(tiny_model_dir, data_dir, monkeypatch, capsys):
    base = ["evaluate", "-m", str(tiny_model_dir), "--data-dir", str(data_dir), "--beam", "1"]
    code, out, err = hien([*base, "--testset", "tiny-b", "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert set(json.loads(out)) == KEYS and json.loads(out)["lines"] == 8
    code, out, err = hien([*base, "--all", "--json"], monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["testset"] for r in rows] == ["tiny-a", "tiny-b"] and [r["lines"] for r in rows] == [12, 8]
    assert all(set(r) == KEYS | {"testset"} and r["bleu"] == pytest.approx(100.0) for r in rows)
    code, out, _ = hien([*base, "--all"], monkeypatch, capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["test", "set", "lines", "BLEU", "chrF++"]
    assert lines[1].split() == ["tiny-a", "12", "100.00", "100.00"]
    assert lines[3].startswith("BLEU signature: ") and lines[4].startswith("chrF++ signature: ")


def test_scoring_a_hyp_file_against_a_named_test_set(data_dir, tmp_path, monkeypatch, capsys):
    hyp = tmp_path / "hyp.en"
    hyp.write_text("".join(REFERENCES[i] + "\n" for i in range(12, 20)), encoding="utf-8")
    args = ["evaluate", "-m", str(tmp_path / "no-model"), "--data-dir", str(data_dir), "--testset", "tiny-b",
            "--hyp", str(hyp), "--json"]
    code, out, err = hien(args, monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["bleu"] == pytest.approx(100.0)


@pytest.mark.parametrize(("args", "expect"), [
    (["--hyp", "{tmp}/hyp", "--ref", "{tmp}/short"], "line-count mismatch: {tmp}/hyp has 20 lines, {tmp}/short has 2"),
    (["--hyp", "{tmp}/missing", "--ref", "{tmp}/ref"], "cannot read {tmp}/missing"),
    (["--hyp", "{tmp}/hyp", "--ref", "{tmp}/missing"], "cannot read {tmp}/missing"),
    (["--hyp", "{tmp}/hyp"], "give one of --src/--ref, --testset NAME or --all"),
    (["--ref", "{tmp}/ref"], "give --ref and one of --src or --hyp"),
    (["--src", "{tmp}/hyp", "--hyp", "{tmp}/hyp", "--ref", "{tmp}/ref"], "not both"),
    (["--testset", "nope", "--hyp", "{tmp}/hyp", "--data-dir", "{data}"], "no test set 'nope'"),
    (["--all", "--data-dir", "{tmp}/nowhere"], "not a directory"),
    (["--all", "-m", "{tmp}/no-model"], "model directory not found: {tmp}/no-model"),
])
def test_mistakes_are_one_line_errors(tiny_model_dir, files, data_dir, monkeypatch, capsys, args, expect):
    tmp = files["hyp"].parent
    (tmp / "short").write_text("a\nb\n")
    fill = {"tmp": tmp, "data": data_dir}
    code, out, err = hien(["evaluate", "-m", str(tiny_model_dir), *[a.format(**fill) for a in args]], monkeypatch,
                          capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and expect.format(**fill) in err, err


def test_unknown_test_set_lists_the_known_ones(data_dir, monkeypatch, capsys):
    code, _, err = hien(["evaluate", "--data-dir", str(data_dir), "--testset", "nope", "--hyp", "x"], monkeypatch,
                        capsys)
    assert code == 2 and "available: tiny-a, tiny-b" in err


def test_table_lists_each_distinct_signature_once():
    rows = [score(["a b c d"], [["a b c d"]], "one"), score(["x y"], [["x y z"]], "two")]
    table = format_table(rows).splitlines()
    assert len(table) == 5 and table[1].split()[0] == "one" and table[2].split()[0] == "two"
