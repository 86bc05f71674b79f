"""The registered zoo models: every family, variant and data set, in one table.

Each entry fixes the builder arguments that fit its data set. Vocabulary sizes come from
the loaders with their default seed (a test checks that they still match), so
`zoo.create(name)` needs no data.
"""

from zoo.convnet import POSITIONAL_CHANNELS, build_convnet
from zoo.feedforward import ENCODINGS, build_feedforward
from zoo.positional import POSITIONAL_SCHEMES
from zoo.registry import ModelSpec, register
from zoo.transformer import build_causal_lm, build_encoder_classifier

# Training-split vocabulary sizes + 1 (id 0 is unknown) of `load_flights(seed=0)` and
# `load_movielens(seed=0)`.
FLIGHTS_CARDINALITIES = {
    "carrier": 17, "origin": 4, "dest": 105, "flight": 3744, "tailnum": 3998, "month": 13, "hour": 20,
}
MOVIELENS_CARDINALITIES = {"userId": 672, "movieId": 8365}
CMUDICT_VOCABULARY_SIZE = 29
CMUDICT_CLASSES = 5
CMUDICT_MAX_LENGTH = 16
BYTE_VOCABULARY_SIZE = 258
TEXT_SEQUENCE_LENGTH = 128

_CONVNET_TINY = {"filters": (4, 8)}
_FEEDFORWARD_TINY = {"embedding_dim": 4, "hidden_units": (8,)}
_TRANSFORMER_TINY = {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32, "num_layers": 1}


def _register_convnets():
    for positional in POSITIONAL_CHANNELS:
        register(ModelSpec(
            name=f"convnet-{positional}.fashion_mnist",
            builder=build_convnet,
            arguments={"image_shape": (28, 28, 1), "output_units": 10, "positional": positional,
                       "head": "classification", "filters": (32, 64), "pooling": "avg"},
            tiny_arguments=_CONVNET_TINY,
            description=f"ConvNet, {positional} positional channels, Fashion-MNIST classes",
            epochs=3,
        ))
        register(ModelSpec(
            name=f"convnet-{positional}.not_so_clevr",
            builder=build_convnet,
            arguments={"image_shape": (64, 64, 1), "output_units": 2, "positional": positional,
                       "head": "regression", "filters": (16, 32), "pooling": "avg"},
            tiny_arguments=_CONVNET_TINY,
            description=f"ConvNet, {positional} positional channels, Not-so-Clevr square centre regression",
            epochs=10,
            batch_size=32,
        ))


def _register_feedforward():
    for encoding, summary in ENCODINGS.items():
        register(ModelSpec(
            name=f"feedforward-{encoding}.flights",
            builder=build_feedforward,
            arguments={"cardinalities": FLIGHTS_CARDINALITIES, "numeric_features": 2, "encoding": encoding,
                       "embedding_dim": 16, "hidden_units": (64, 32), "output_units": 1},
            tiny_arguments=_FEEDFORWARD_TINY,
            description=f"MLP on flight columns, {summary}; late-arrival logit",
            epochs=3,
            batch_size=512,
        ))
        register(ModelSpec(
            name=f"feedforward-{encoding}.movielens",
            builder=build_feedforward,
            arguments={"cardinalities": MOVIELENS_CARDINALITIES, "numeric_features": 0, "encoding": encoding,
                       "embedding_dim": 16, "hidden_units": (64, 32), "output_units": 1},
            tiny_arguments=_FEEDFORWARD_TINY,
            description=f"MLP on user and movie ids, {summary}; rating >= 4 logit",
            epochs=3,
            batch_size=512,
        ))


def _register_transformers():
    for positional in POSITIONAL_SCHEMES:
        register(ModelSpec(
            name=f"transformer-encoder_{positional}.cmudict_stress",
            builder=build_encoder_classifier,
            arguments={"vocabulary_size": CMUDICT_VOCABULARY_SIZE, "num_classes": CMUDICT_CLASSES,
                       "max_length": CMUDICT_MAX_LENGTH, "positional": positional, "hidden_dim": 64,
                       "num_heads": 4, "intermediate_dim": 128, "num_layers": 2, "dropout": 0.1},
            tiny_arguments=_TRANSFORMER_TINY,
            description=f"bidirectional encoder, {positional} positions, stressed syllable from spelling",
            epochs=10,
            batch_size=256,
        ))
        register(ModelSpec(
            name=f"transformer-decoder_{positional}.python_stdlib",
            builder=build_causal_lm,
            arguments={"vocabulary_size": BYTE_VOCABULARY_SIZE, "max_length": TEXT_SEQUENCE_LENGTH,
                       "positional": positional, "hidden_dim": 64, "num_heads": 4,
                       "intermediate_dim": 128, "num_layers": 2, "dropout": 0.0},
            tiny_arguments=_TRANSFORMER_TINY,
            description=f"causal byte-level LM, {positional} positions, Python standard library source",
            epochs=2,
            batch_size=64,
        ))
    for positional in ("learned", "sinusoidal"):
        register(ModelSpec(
            name=f"transformer-encoder_{positional}_concat.cmudict_stress",
            builder=build_encoder_classifier,
            arguments={"vocabulary_size": CMUDICT_VOCABULARY_SIZE, "num_classes": CMUDICT_CLASSES,
                       "max_length": CMUDICT_MAX_LENGTH, "positional": positional, "combine": "concat",
                       "hidden_dim": 64, "num_heads": 4, "intermediate_dim": 128, "num_layers": 2,
                       "dropout": 0.1},
            tiny_arguments=_TRANSFORMER_TINY,
            description=f"bidirectional encoder, {positional} positions concatenated (not summed), stress task",
            epochs=10,
            batch_size=256,
        ))


_register_convnets()
_register_feedforward()
_register_transformers()
