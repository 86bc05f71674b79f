"""Byte-level text corpora for a causal (next-character) language model.

Two corpora, both offline:

- The CPython standard library source that ships with the interpreter: every `*.py` file under
  `sysconfig.get_paths()["stdlib"]`, sorted by path, leaving out folders named `site-packages`
  and `dist-packages` (third-party code) and `test` (CPython's regression tests, which include
  files in deliberately unusual encodings). On CPython 3.11.7 that is 868 files and about 13.2
  million bytes; the count changes with the Python version.
- Jane Austen's six novels from the Debian package `r-cran-janeaustenr`, read from the R
  package's lazy-load database (`data/Rdata.rdx` and `data/Rdata.rdb`) with PyPI `rdata`,
  without R. Each chapter is one document; the title page joins the first chapter.

Text is encoded as UTF-8 bytes. Id 0 is padding, id 1 marks the end of each document, and
byte `b` has id `b + 2`, so the vocabulary has 258 ids. Documents (files or chapters) go to
the train, validation and test splits by a seeded 90/5/5 permutation, so no document is
shared between splits.
"""

import dataclasses
import functools
import os
import pathlib
import re
import sysconfig
import zlib

import numpy as np

from zoo.data.splits import check_positive_integer
from zoo.data.splits import check_seed
from zoo.data.splits import split_indices

PAD_ID = 0
END_OF_TEXT_ID = 1
BYTE_OFFSET = 2
VOCABULARY_SIZE = 256 + BYTE_OFFSET
SPLIT_FRACTIONS = (0.9, 0.05, 0.05)
DEFAULT_EXCLUDED_DIRS = ("site-packages", "dist-packages", "test")
AUSTEN_DIR = "/usr/lib/R/site-library/janeaustenr/data"
AUSTEN_NOVELS = {
    "sensesensibility": "Sense & Sensibility",
    "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
_CHAPTER_HEADING = re.compile(r"(CHAPTER|Chapter) [IVXLCDM\d]+\.?")


@dataclasses.dataclass(frozen=True)
class TextSplit:
    """One split of a corpus: its documents joined into a single id sequence.

    Attributes:
        ids: 1-D int32 ids; each document's bytes (`b + 2`) followed by `END_OF_TEXT_ID`.
        documents: names of the documents in `ids`, in order (the last may be cut short by
            `max_characters`).
    """

    ids: np.ndarray
    documents: tuple

    def to_tf_dataset(self, sequence_length, batch_size, stride=None, shuffle=False, seed=0):
        """Return `(inputs, targets)` windows; see `zoo.data.text_corpus.windowed_dataset`."""
        return windowed_dataset(self.ids, sequence_length, batch_size, stride, shuffle, seed)


@dataclasses.dataclass(frozen=True)
class TextCorpus:
    """A byte-level corpus in three splits.

    Attributes:
        name: `"python_stdlib"` or `"austen"`.
        source: the folder the documents were read from.
        train, validation, test: `TextSplit`s from a seeded 90/5/5 permutation of documents.
        seed: seed of the split.
    """

    name: str
    source: str
    train: TextSplit
    validation: TextSplit
    test: TextSplit
    seed: int

    vocabulary_size = VOCABULARY_SIZE
    pad_id = PAD_ID
    end_of_text_id = END_OF_TEXT_ID


def encode_text(text):
    """Encode a str or bytes as int32 byte ids (`b + 2`), without an end-of-text id.

    Example:
    >>> encode_text("ab")
    array([99, 100], dtype=int32)
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return np.frombuffer(data, dtype=np.uint8).astype(np.int32) + BYTE_OFFSET


def decode_ids(ids):
    """Decode byte ids back to text; padding is dropped and end-of-text ids become newlines.

    Bytes that are not valid UTF-8 (for example a sequence cut mid-character) become U+FFFD.

    Example:
    >>> decode_ids(encode_text("print(1)"))
    'print(1)'
    """
    ids = np.asarray(ids)
    if np.any((ids < 0) | (ids >= VOCABULARY_SIZE)):
        raise ValueError(
            f"`ids` must lie in [0, {VOCABULARY_SIZE}). Received: min={ids.min()}, max={ids.max()}"
        )
    ids = ids[ids != PAD_ID]
    data = np.where(ids == END_OF_TEXT_ID, ord("\n"), ids - BYTE_OFFSET).astype(np.uint8)
    return data.tobytes().decode("utf-8", errors="replace")


def make_windows(ids, sequence_length, stride=None):
    """Cut a 1-D id sequence into next-token prediction windows, as NumPy arrays.

    Window `k` starts at `k * stride`; its targets are its inputs shifted one id to the left.

    Args:
        ids: 1-D int array.
        sequence_length: length of each input (and target) window.
        stride: distance between window starts; defaults to `sequence_length` (no overlap of
            inputs).

    Returns:
        `(inputs, targets)`, two int32 arrays of shape (num_windows, sequence_length).

    Example:
    >>> inputs, targets = make_windows(np.arange(10), 4)
    >>> inputs.tolist(), targets.tolist()
    ([[0, 1, 2, 3], [4, 5, 6, 7]], [[1, 2, 3, 4], [5, 6, 7, 8]])
    """
    starts = _window_starts(len(ids), sequence_length, stride)
    ids = np.asarray(ids, dtype=np.int32)
    windows = np.lib.stride_tricks.sliding_window_view(ids, sequence_length + 1)[starts]
    return windows[:, :-1], windows[:, 1:]


def windowed_dataset(ids, sequence_length, batch_size, stride=None, shuffle=False, seed=0):
    """Build a `tf.data.Dataset` of next-token `(inputs, targets)` windows over `ids`.

    Windows are sliced on the fly from one tensor, so overlapping windows (small `stride`)
    cost no extra memory.

    Args:
        ids: 1-D int array, such as `TextSplit.ids`.
        sequence_length: length of each window.
        batch_size: windows per batch; the last batch may be smaller.
        stride: distance between window starts; defaults to `sequence_length`.
        shuffle: shuffle the window order, reshuffling every epoch (for training).
        seed: seed of the shuffle.

    Returns:
        A dataset of int32 `(inputs, targets)` batches of shape (batch, sequence_length).

    Example:
    >>> dataset = windowed_dataset(corpus.train.ids, 256, batch_size=32, shuffle=True)
    """
    import tensorflow as tf

    check_positive_integer("batch_size", batch_size)
    starts = _window_starts(len(ids), sequence_length, stride)
    ids_tensor = tf.constant(np.asarray(ids, dtype=np.int32))

    def slice_window(start):
        window = tf.slice(ids_tensor, [start], [sequence_length + 1])
        window = tf.ensure_shape(window, [sequence_length + 1])
        return window[:-1], window[1:]

    dataset = tf.data.Dataset.from_tensor_slices(starts)
    if shuffle:
        dataset = dataset.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(slice_window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _window_starts(num_ids, sequence_length, stride):
    check_positive_integer("sequence_length", sequence_length)
    stride = sequence_length if stride is None else stride
    check_positive_integer("stride", stride)
    if num_ids < sequence_length + 1:
        raise ValueError(
            f"A window needs sequence_length + 1 = {sequence_length + 1} ids, but the sequence has "
            f"{num_ids}. Use a shorter `sequence_length` or a larger `max_characters`."
        )
    return np.arange(0, num_ids - sequence_length, stride, dtype=np.int64)


def stdlib_files(root=None, excluded_dirs=DEFAULT_EXCLUDED_DIRS):
    """List the standard library's `*.py` files, sorted by path relative to `root`.

    Args:
        root: folder to search; defaults to `sysconfig.get_paths()["stdlib"]`.
        excluded_dirs: folder names whose files are left out, wherever they occur.

    Example:
    >>> stdlib_files()[0].name
    '__future__.py'
    """
    root = pathlib.Path(root or sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise FileNotFoundError(f"Standard library folder not found. Received: root={str(root)!r}")
    return list(_list_python_files(root, tuple(excluded_dirs)))


@functools.lru_cache(maxsize=4)
def _list_python_files(root, excluded_dirs):
    excluded = set(excluded_dirs)
    files = [
        path
        for path in root.rglob("*.py")
        if not excluded.intersection(path.relative_to(root).parts[:-1])
    ]
    return tuple(sorted(files, key=lambda path: path.relative_to(root).as_posix()))


def _build_corpus(name, source, documents, read_document, max_characters, seed):
    """Split documents by a seeded permutation and join each split's ids up to its cap.

    `read_document(document)` returns a document's text; it is called only for documents that
    fit under the cap, so a small `max_characters` reads few files.
    """
    check_positive_integer("max_characters", max_characters, allow_none=True)
    check_seed(seed)
    if len(documents) < len(SPLIT_FRACTIONS):
        raise ValueError(
            f"The {name} corpus needs at least 3 documents to split, but {source} has "
            f"{len(documents)}."
        )

    splits = []
    document_splits = split_indices(len(documents), SPLIT_FRACTIONS, seed)
    for fraction, indices in zip(SPLIT_FRACTIONS, document_splits):
        limit = None if max_characters is None else max(1, round(fraction * max_characters))
        names = [documents[index] for index in indices]
        splits.append(_join_documents(names, read_document, limit))
    return TextCorpus(
        name=name,
        source=str(source),
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        seed=seed,
    )


def _join_documents(documents, read_document, limit):
    pieces, names, size = [], [], 0
    for document in documents:
        if limit is not None and size >= limit:
            break
        ids = np.append(encode_text(read_document(document)), np.int32(END_OF_TEXT_ID))
        pieces.append(ids)
        names.append(document)
        size += len(ids)

    ids = np.concatenate(pieces).astype(np.int32)
    return TextSplit(ids=ids if limit is None else ids[:limit], documents=tuple(names))


def load_stdlib_corpus(max_characters=None, seed=0, root=None, excluded_dirs=DEFAULT_EXCLUDED_DIRS):
    """Load the CPython standard library source as a byte-level corpus, split by file.

    Args:
        max_characters: optional cap on the total number of ids (UTF-8 bytes plus one
            end-of-text id per file) over all splits; each split keeps its 90/5/5 share, cut
            at the end. Only the files needed are read.
        seed: seed of the file permutation.
        root: folder to read; defaults to `sysconfig.get_paths()["stdlib"]`.
        excluded_dirs: folder names to leave out (see `stdlib_files`).

    Returns:
        A `TextCorpus` named `"python_stdlib"` whose document names are paths relative to `root`.

    Example:
    >>> corpus = load_stdlib_corpus(max_characters=1_000_000)
    >>> len(corpus.train.ids)
    900000
    """
    root = pathlib.Path(root or sysconfig.get_paths()["stdlib"])
    files = stdlib_files(root, excluded_dirs)
    documents = [path.relative_to(root).as_posix() for path in files]

    def read_document(relative_path):
        return (root / relative_path).read_bytes()

    return _build_corpus("python_stdlib", root, documents, read_document, max_characters, seed)


def read_lazy_load_database(directory, name="Rdata"):
    """Read every object of an R lazy-load database (`name.rdx` and `name.rdb`) with `rdata`.

    R installs a package's data sets as such a database when its DESCRIPTION sets
    `LazyData: true`. The `.rdx` index maps each object name to an (offset, length) pair in
    the `.rdb` file. Each stored object is a 4-byte big-endian size followed by the
    zlib-compressed R serialization of the object.

    Args:
        directory: folder holding `name.rdx` and `name.rdb`.
        name: file stem of the database.

    Returns:
        A dict of object name to the object converted by `rdata.conversion.convert`.

    Example:
    >>> novels = read_lazy_load_database("/usr/lib/R/site-library/janeaustenr/data")
    >>> sorted(novels)[0]
    'emma'
    """
    import rdata

    index = rdata.read_rds(os.path.join(directory, name + ".rdx"))
    if not bool(np.all(index["compressed"])):
        # NOTE: R also writes bzip2 and xz databases (compress = 2 or 3); only zlib is read here.
        raise ValueError(
            f"{directory}/{name}.rdb is not zlib-compressed (compressed={index['compressed']}). "
            "Only zlib lazy-load databases can be read."
        )
    with open(os.path.join(directory, name + ".rdb"), "rb") as file:
        database = file.read()

    objects = {}
    for object_name, (offset, length) in index["variables"].items():
        serialized = zlib.decompress(database[offset + 4 : offset + length])
        parsed = rdata.parser.parse_data(serialized, extension=".rds")
        objects[str(object_name)] = rdata.conversion.convert(parsed)
    return objects


def read_austen_chapters(directory=None):
    """Read Jane Austen's novels from `r-cran-janeaustenr` and cut them into chapters.

    Args:
        directory: the R package's `data` folder; defaults to
            `/usr/lib/R/site-library/janeaustenr/data`.

    Returns:
        A dict of chapter name (`"<novel>/<number>"`, numbered from 1 in reading order) to
        its text, with the original line breaks.

    Example:
    >>> chapters = read_austen_chapters()
    >>> chapters["emma/1"].splitlines()[0]
    'EMMA'
    """
    directory = directory or AUSTEN_DIR
    if not os.path.isfile(os.path.join(directory, "Rdata.rdx")):
        raise FileNotFoundError(
            f"Jane Austen's novels not found: {directory} has no Rdata.rdx. Install them with "
            "`apt-get install r-cran-janeaustenr`, or pass the package's data folder as "
            "`directory`."
        )
    novels = read_lazy_load_database(directory)
    missing = sorted(set(AUSTEN_NOVELS) - set(novels))
    if missing:
        raise ValueError(f"{directory} lacks the novels {missing}; re-install r-cran-janeaustenr.")

    chapters = {}
    for novel in AUSTEN_NOVELS:
        lines = [str(line) for line in novels[novel]]
        for number, chapter_lines in enumerate(_split_chapters(lines), start=1):
            chapters[f"{novel}/{number}"] = "\n".join(chapter_lines)
    return chapters


def _split_chapters(lines):
    """Cut a novel's lines at chapter headings; lines before the second heading form chapter 1."""
    chapters = [[]]
    current_has_heading = False
    for line in lines:
        is_heading = _CHAPTER_HEADING.fullmatch(line.strip()) is not None
        if is_heading and current_has_heading:
            chapters.append([])
        current_has_heading = current_has_heading or is_heading
        chapters[-1].append(line)
    return chapters


def load_austen_corpus(max_characters=None, seed=0, directory=None):
    """Load Jane Austen's six novels as a byte-level corpus, split by chapter.

    Args:
        max_characters: optional cap on the total number of ids over all splits, as in
            `load_stdlib_corpus`.
        seed: seed of the chapter permutation.
        directory: the package's `data` folder; defaults to
            `/usr/lib/R/site-library/janeaustenr/data`.

    Returns:
        A `TextCorpus` named `"austen"` whose document names are `"<novel>/<chapter number>"`.

    Raises:
        FileNotFoundError: when `r-cran-janeaustenr` is not installed.

    Example:
    >>> corpus = load_austen_corpus()
    >>> corpus.train.documents[:2]
    """
    chapters = read_austen_chapters(directory)
    source = directory or AUSTEN_DIR
    return _build_corpus(
        "austen", source, list(chapters), chapters.__getitem__, max_characters, seed
    )
