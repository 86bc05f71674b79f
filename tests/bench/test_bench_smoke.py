"""Smoke tests of the benchmark code at minuscule sizes; the figures are not checked."""

import re

import numpy as np

from bench import common, layer_costs, throughput
from bench.common import Settings


def test_interleaved_step_times_returns_medians():
    calls = {"a": 0, "b": 0}

    def step(name):
        calls[name] += 1

    times = common.interleaved_step_times(
        {"a": lambda: step("a"), "b": lambda: step("b")}, warmup=2, rounds=3, steps_per_round=2
    )
    assert set(times) == {"a", "b"}
    assert calls == {"a": 8, "b": 8}
    assert all(seconds >= 0.0 for seconds in times.values())


def test_markdown_table_and_verdict():
    table = common.markdown_table(["name", "ms"], [["a", 1.23456], ["b", 123456.0]])
    assert table.splitlines()[0] == "| name | ms |"
    assert "| a | 1.23 |" in table
    assert "| b | 123,456 |" in table
    assert common.verdict(1.02, 1.03) == "met"
    assert common.verdict(1.5, 1.2) == "missed by 25%"


def test_header_names_machine_and_versions():
    text = "\n".join(common.header_lines("python -m bench.run_all --quick"))
    assert re.search(r"Machine: .+ \d+ logical cores", text)
    assert "TensorFlow" in text
    assert "keras-hub" in text
    assert "`python -m bench.run_all --quick`" in text


def test_convnet_flops_count_by_hand():
    arguments = {"image_shape": (4, 4, 1), "filters": (2,), "output_units": 3}
    by_hand = 2 * 4 * 4 * 9 * (1 * 2 + 2 * 2) + 2 * 2 * 3
    assert throughput.convnet_flops(arguments, batch_size=5) == 5 * by_hand


def test_one_hot_models_agree_on_shapes():
    ids = np.array([[1, 2, 3]], dtype="int32")
    for encoding in layer_costs.ONE_HOT_ENCODINGS.values():
        model = layer_costs.one_hot_model(encoding, vocabulary_size=10, units=4)
        assert model.count_params() == 10 * 4 + 4 * 2 + 2
        assert tuple(model(ids).shape) == (1, 2)


def test_positional_channels_section_runs_tiny():
    text, values = layer_costs.positional_channels(Settings(tiny=True))
    assert "| PositionalChannel2D |" in text
    assert values["channels_vs_concat"] > 0.0


def test_time_to_target_takes_first_epoch():
    from bench.time_to_accuracy import _time_to

    assert _time_to(0.8, [1.0, 2.5, 4.0], [0.5, 0.81, 0.9]) == 2.5
    assert _time_to(0.95, [1.0, 2.5, 4.0], [0.5, 0.81, 0.9]) is None


def test_serve_gives_same_outputs_for_numpy_and_tensors():
    import zoo
    from bench import serving

    name = "feedforward-onehot.flights"
    model = zoo.load(name, format="saved_model")
    inputs = serving._batch(name, 4)
    tensors = serving._serving_inputs(model, inputs)
    arrays = serving._serving_inputs(model, inputs, convert=np.asarray)

    assert all(isinstance(value, np.ndarray) for value in arrays[0].values())
    for column, value in arrays[0].items():
        assert value.dtype == tensors[0][column].dtype.as_numpy_dtype, column
    np.testing.assert_allclose(np.asarray(model.serve(*arrays)), np.asarray(model.serve(*tensors)), rtol=1e-6)
