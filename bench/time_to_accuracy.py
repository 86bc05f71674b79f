"""Time to a validation accuracy on the cmudict stress task: the zoo's recipe against keras-hub's stack.

Step time alone does not say which set-up trains faster, because the batch size changes
both the cost of an epoch and how much each epoch learns. This section trains on the real
task and measures wall time until the validation accuracy first reaches a common target:

- the zoo's encoder (`transformer-encoder_learned.cmudict_stress`) with its recipe
  defaults: registry batch size and learning rate, float32, no XLA;
- the keras-hub stack (`TokenAndPositionEmbedding` + `TransformerEncoder`, same sizes)
  with Keras defaults: `fit`'s batch size of 32, Adam at 1e-3, float32, no XLA;
- both stacks at the other's batch size, to separate the effect of the stack from the
  effect of the batch size;
- the zoo recipe with keras-hub's token embedding initializer (uniform in [-0.05, 0.05])
  in place of the zoo's normal(0, 1), the one initializer that differs between the stacks.

The target is `REACH_FRACTION` of the best validation accuracy that the keras-hub stack
reaches with Keras defaults, so "equal accuracy" means reaching that level.
"""

import keras
import numpy as np

import zoo
from bench.common import markdown_table, verdict
from bench.throughput import hub_reference_stack
from recipes.callbacks import EpochTimer
from zoo.transformer import build_encoder_classifier

MODEL = "transformer-encoder_learned.cmudict_stress"
KERAS_DEFAULT_BATCH_SIZE = 32
REACH_FRACTION = 0.99
TARGET_SPEEDUP = 1.5


def _build(stack, arguments, learning_rate):
    keras.utils.set_random_seed(0)
    if stack == "zoo":
        model = zoo.create(MODEL, compile=False)
    elif stack == "zoo, uniform token init":
        model = build_encoder_classifier(**arguments, embeddings_initializer="uniform")
    else:
        model = hub_reference_stack(
            arguments["vocabulary_size"], arguments["num_classes"], arguments["max_length"],
            arguments["hidden_dim"], arguments["num_heads"], arguments["intermediate_dim"], arguments["num_layers"],
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _curve(stack, batch_size, learning_rate, data, epochs):
    """Train one case; return (cumulative seconds per epoch, validation accuracy per epoch, test accuracy)."""
    spec = zoo.get_spec(MODEL)
    task = zoo.get_task(spec.dataset)
    model = _build(stack, spec.resolve_arguments(), learning_rate)
    train, validation, test = task.datasets(data, batch_size, seed=0)
    timer = EpochTimer()
    history = model.fit(train, validation_data=validation, epochs=epochs, callbacks=[timer], verbose=0)
    test_accuracy = model.evaluate(test, return_dict=True, verbose=0)["accuracy"]
    return list(np.cumsum(timer.epoch_seconds)), history.history["val_accuracy"], test_accuracy


def _time_to(target, seconds, accuracies):
    for elapsed, accuracy in zip(seconds, accuracies):
        if accuracy >= target:
            return elapsed
    return None


def run(settings):
    """Return the Markdown section on time to accuracy and the zoo-over-keras-hub speedup."""
    spec = zoo.get_spec(MODEL)
    data = zoo.get_task(spec.dataset).load(seed=0, max_examples=settings.scaled(20_000, 12_000, 1_000))
    epochs = settings.scaled(4, 3, 1)
    cases = [
        ("zoo", spec.batch_size, spec.learning_rate, "zoo recipe"),
        ("keras-hub", KERAS_DEFAULT_BATCH_SIZE, 1e-3, "keras-hub, Keras defaults"),
        ("zoo", KERAS_DEFAULT_BATCH_SIZE, spec.learning_rate, "zoo at batch 32"),
        ("keras-hub", spec.batch_size, 1e-3, f"keras-hub at batch {spec.batch_size}"),
        ("zoo, uniform token init", spec.batch_size, spec.learning_rate, "zoo recipe, uniform token init"),
    ]
    curves = {label: _curve(stack, batch, rate, data, epochs) for stack, batch, rate, label in cases}

    reference = "keras-hub, Keras defaults"
    target = REACH_FRACTION * max(curves[reference][1])
    rows, reached = [], {}
    for stack, batch_size, learning_rate, label in cases:
        seconds, accuracies, test_accuracy = curves[label]
        reached[label] = _time_to(target, seconds, accuracies)
        rows.append([
            label, batch_size, learning_rate, seconds[-1] / len(seconds), max(accuracies), test_accuracy,
            f"{reached[label]:.1f}" if reached[label] is not None else f"not in {epochs} epochs",
        ])

    speedup = None
    if reached["zoo recipe"] is not None and reached[reference] is not None:
        speedup = reached[reference] / reached["zoo recipe"]
    text = (
        f"`{MODEL}` against the keras-hub stack at the same sizes, on {data.train.num_examples:,} cmudict "
        f"training words for up to {epochs} epochs, seed 0. Target: {REACH_FRACTION:.0%} of the keras-hub "
        f"stack's best validation accuracy with Keras defaults = {target:.4f}. Speedup = keras-hub time "
        f"to target / zoo recipe time to target = "
        f"{f'{speedup:.2f}x' if speedup else 'undetermined (a case missed the target)'}, target "
        f">= {TARGET_SPEEDUP}x: {verdict(1.0 / speedup, 1.0 / TARGET_SPEEDUP) if speedup else 'not measured'}.\n\n"
    )
    columns = ["case", "batch", "learning rate", "s per epoch", "best val accuracy", "test accuracy",
               "s to target"]
    return [text + markdown_table(columns, rows)], {"time_to_accuracy_speedup": speedup}
