"""Tests of the byte-level corpora: the standard library source and Jane Austen's novels."""

import os
import pathlib
import sysconfig
import zlib

import numpy as np
import pytest
import rdata

from zoo.data import text_corpus
from zoo.data.text_corpus import (
    END_OF_TEXT_ID,
    VOCABULARY_SIZE,
    decode_ids,
    encode_text,
    load_austen_corpus,
    load_stdlib_corpus,
    make_windows,
    read_austen_chapters,
    read_lazy_load_database,
    stdlib_files,
    windowed_dataset,
)

CAP = 200_000
STDLIB = pathlib.Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture(scope="module")
def small():
    return load_stdlib_corpus(max_characters=CAP, seed=0)


@pytest.fixture(scope="module")
def full():
    return load_stdlib_corpus(seed=0)


def _splits(corpus):
    return {"train": corpus.train, "validation": corpus.validation, "test": corpus.test}


def test_stdlib_files_sorted_and_filtered():
    files = stdlib_files()
    relative = [path.relative_to(STDLIB).as_posix() for path in files]

    assert relative == sorted(relative)
    assert all(name.endswith(".py") for name in relative)
    for path in files:
        assert not {"site-packages", "dist-packages", "test"} & set(path.relative_to(STDLIB).parts[:-1])
    assert "os.py" in relative
    assert "json/decoder.py" in relative


def test_full_corpus_splits_partition_files_by_file(full):
    documents = [split.documents for split in _splits(full).values()]
    combined = [name for names in documents for name in names]
    expected = [path.relative_to(STDLIB).as_posix() for path in stdlib_files()]

    assert sorted(combined) == sorted(expected)
    assert len(set(combined)) == len(combined)
    assert len(documents[0]) == round(0.9 * len(expected))


def test_full_corpus_size_and_separators(full):
    total_bytes = sum(path.stat().st_size for path in stdlib_files())
    for split in _splits(full).values():
        assert int(np.sum(split.ids == END_OF_TEXT_ID)) == len(split.documents)
    assert sum(len(split.ids) for split in _splits(full).values()) == total_bytes + len(stdlib_files())


def test_ids_dtype_and_range(small):
    for split in _splits(small).values():
        assert split.ids.dtype == np.int32
        assert split.ids.ndim == 1
        assert split.ids.min() >= 1
        assert split.ids.max() < VOCABULARY_SIZE


def test_max_characters_caps_each_share(small):
    sizes = [len(split.ids) for split in _splits(small).values()]
    assert sizes == [round(0.9 * CAP), round(0.05 * CAP), round(0.05 * CAP)]


def test_capped_documents_are_a_prefix_of_full_split(small, full):
    for name in ("train", "validation", "test"):
        capped = getattr(small, name).documents
        assert capped == getattr(full, name).documents[: len(capped)], name


def test_first_document_decodes_to_its_file(small):
    first = small.test.documents[0]
    source = (STDLIB / first).read_bytes()
    ids = small.test.ids

    assert len(ids) > len(source)
    np.testing.assert_array_equal(ids[: len(source)], encode_text(source))
    assert ids[len(source)] == END_OF_TEXT_ID
    assert decode_ids(ids[: len(source)]) == source.decode("utf-8", errors="replace")


def test_encode_decode_round_trip():
    text = "def f(x):\n    return 'é' * x\n"
    ids = encode_text(text)

    assert ids.dtype == np.int32
    assert ids.min() >= text_corpus.BYTE_OFFSET
    assert decode_ids(np.concatenate([[0], ids, [END_OF_TEXT_ID]])) == text + "\n"
    with pytest.raises(ValueError, match="ids"):
        decode_ids([VOCABULARY_SIZE])


def test_seed_controls_file_split():
    first = load_stdlib_corpus(max_characters=20_000, seed=1)
    again = load_stdlib_corpus(max_characters=20_000, seed=1)
    other = load_stdlib_corpus(max_characters=20_000, seed=2)

    assert first.test.documents == again.test.documents
    np.testing.assert_array_equal(first.train.ids, again.train.ids)
    assert first.test.documents != other.test.documents


def test_make_windows_shift_targets():
    ids = np.arange(20, dtype=np.int32)
    inputs, targets = make_windows(ids, 5)
    overlapping, _ = make_windows(ids, 5, stride=2)

    assert inputs.shape == (3, 5)
    np.testing.assert_array_equal(targets, inputs + 1)
    np.testing.assert_array_equal(inputs[:, 0], [0, 5, 10])
    np.testing.assert_array_equal(overlapping[:, 0], np.arange(0, 15, 2))


def test_windowed_dataset_matches_numpy_windows(small):
    ids = small.validation.ids
    inputs, targets = make_windows(ids, 64, stride=48)
    batches = list(windowed_dataset(ids, 64, batch_size=32, stride=48))

    np.testing.assert_array_equal(np.concatenate([batch[0].numpy() for batch in batches]), inputs)
    np.testing.assert_array_equal(np.concatenate([batch[1].numpy() for batch in batches]), targets)
    assert batches[0][0].dtype.name == "int32"


def test_windowed_dataset_shuffle_is_seeded(small):
    def first_batch(seed):
        dataset = small.train.to_tf_dataset(32, batch_size=8, shuffle=True, seed=seed)
        return next(iter(dataset))[0].numpy()

    np.testing.assert_array_equal(first_batch(3), first_batch(3))
    assert not np.array_equal(first_batch(3), first_batch(4))


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"sequence_length": 0}, "sequence_length"), ({"stride": 0}, "stride"), ({"sequence_length": 100}, "sequence_length")],
)
def test_windows_reject_bad_arguments(kwargs, argument):
    arguments = {"sequence_length": 4, **kwargs}
    with pytest.raises(ValueError, match=argument):
        make_windows(np.arange(50), **arguments)


@pytest.mark.parametrize("kwargs, argument", [({"max_characters": 0}, "max_characters"), ({"seed": -1}, "seed")])
def test_load_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_stdlib_corpus(**kwargs)


def _write_lazy_load_database(directory, objects):
    """Write `objects` (name to Python value) as an R lazy-load database `Rdata.rdx/.rdb`."""
    blobs, variables, offset = [], {}, 0
    for name, value in objects.items():
        r_data = rdata.conversion.convert_python_to_r_data(value)
        serialized = rdata.unparser.unparse_data(r_data, file_format="xdr", file_type="rds")
        blob = len(serialized).to_bytes(4, "big") + zlib.compress(serialized)
        variables[name] = np.array([offset, len(blob)], dtype=np.int32)
        blobs.append(blob)
        offset += len(blob)

    with open(os.path.join(directory, "Rdata.rdb"), "wb") as file:
        file.write(b"".join(blobs))
    index = {"variables": variables, "references": {}, "compressed": np.array([True])}
    rdata.write_rds(os.path.join(directory, "Rdata.rdx"), index)


def _fake_novel(title, num_chapters, heading="CHAPTER"):
    lines = [title, "", "By Jane Austen", ""]
    for number in range(1, num_chapters + 1):
        lines += [f"{heading} {number}", "", f"Text of {title} chapter {number}, café.", ""]
    return np.array(lines)


def test_read_lazy_load_database_round_trip(tmp_path):
    objects = {"first": np.array(["a", "bé"]), "second": np.array(["", "x", "y"])}
    _write_lazy_load_database(tmp_path, objects)
    read = read_lazy_load_database(str(tmp_path))

    assert set(read) == set(objects)
    for name, value in objects.items():
        assert [str(line) for line in read[name]] == value.tolist()


def test_austen_chapters_from_lazy_load_database(tmp_path):
    novels = {name: _fake_novel(name.upper(), 4, "Chapter" if name == "persuasion" else "CHAPTER") for name in text_corpus.AUSTEN_NOVELS}
    _write_lazy_load_database(tmp_path, novels)
    chapters = read_austen_chapters(str(tmp_path))

    assert len(chapters) == 4 * len(novels)
    assert chapters["emma/1"].splitlines()[:3] == ["EMMA", "", "By Jane Austen"]
    assert chapters["emma/2"].startswith("CHAPTER 2\n")
    assert chapters["persuasion/4"].splitlines()[0] == "Chapter 4"

    corpus = load_austen_corpus(directory=str(tmp_path), seed=0)
    documents = [name for split in _splits(corpus).values() for name in split.documents]
    assert sorted(documents) == sorted(chapters)
    assert corpus.name == "austen"


def test_austen_missing_package_names_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install r-cran-janeaustenr"):
        load_austen_corpus(directory=str(tmp_path))


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(text_corpus.AUSTEN_DIR, "Rdata.rdx")),
    reason="r-cran-janeaustenr is not installed",
)
def test_austen_installed_package():
    corpus = load_austen_corpus(seed=0)
    documents = [name for split in _splits(corpus).values() for name in split.documents]
    novels = {name.split("/")[0] for name in documents}

    assert novels == set(text_corpus.AUSTEN_NOVELS)
    assert len(set(documents)) == len(documents)
    assert "Emma Woodhouse" in decode_ids(corpus.train.ids) + decode_ids(corpus.test.ids) + decode_ids(
        corpus.validation.ids
    )
