"""Update compression maths: error bounds, exact k, error feedback, malformed payloads."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.compression import (
    CompressedPayloadError,
    CompressionConfigError,
    CompressionError,
    CompressionSettings,
    Q8Code,
    build_compressor,
    count_for,
    decode_tensors,
    dequantize_q8,
    encode_tensors,
    encode_with_feedback,
    quantize_q8,
    sparsify_topk,
)
from consortium_core.errors import UnknownNameError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("block_size", [1, 7, 4096])
def test_q8_round_trip_error_is_at_most_half_a_step(block_size: int) -> None:
    x = RNG.normal(size=(33, 129)).astype(np.float32)
    code = quantize_q8(values=x, block_size=block_size)
    error = np.abs(dequantize_q8(code=code) - x).ravel()
    steps = np.repeat(code.scale, block_size)[: x.size]
    assert (error <= steps / 2 + 1e-6).all()
    if block_size == 4096:
        assert code.codes.nbytes + code.scale.nbytes + code.offset.nbytes < x.nbytes / 3.9


def test_q8_stochastic_rounding_is_unbiased() -> None:
    x = np.full(200_000, 0.3, dtype=np.float32)
    x[0], x[1] = 0.0, 1.0  # a step of 1/255: 0.3 lies between two codes
    code = quantize_q8(values=x, rng=np.random.default_rng(1))
    decoded = dequantize_q8(code=code)
    assert abs(decoded[2:].mean() - 0.3) < 1e-4
    assert np.abs(decoded - x).max() < code.scale.max()


def test_q8_handles_constant_empty_and_scalar_tensors() -> None:
    for x in (np.full(10, 2.5, np.float32), np.zeros(0, np.float32), np.float32(3.0)):
        assert np.allclose(dequantize_q8(code=quantize_q8(values=x)), x)


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 1.0])
def test_topk_keeps_exactly_k_of_the_largest(fraction: float) -> None:
    x = RNG.normal(size=10_000).astype(np.float32)
    k = count_for(size=x.size, fraction=fraction)
    code = sparsify_topk(values=x, k=k)
    assert code.indices.size == k == int(np.ceil(fraction * x.size))
    assert code.indices.dtype == np.int32 and code.values.dtype == np.float32
    kept = np.abs(code.values).min()
    dropped = np.delete(np.abs(x), code.indices)
    assert dropped.size == 0 or dropped.max() <= kept


def test_topk_with_q8_values_is_smaller_and_close() -> None:
    x = {"w": RNG.normal(size=(100, 100)).astype(np.float32)}
    plain = encode_tensors(tensors=x, compressor=build_compressor("topk", fraction=0.1))
    small = encode_tensors(
        tensors=x, compressor=build_compressor("topk", fraction=0.1, quantize_values=True)
    )
    assert sum(p.nbytes for p in small.parts.values()) < sum(p.nbytes for p in plain.parts.values())
    a = decode_tensors(parts=plain.parts, meta=plain.meta)["w"]
    b = decode_tensors(parts=small.parts, meta=small.meta)["w"]
    assert np.abs(a - b).max() < 0.05


@pytest.mark.parametrize("name", ["q8", "topk"])
def test_error_feedback_sum_of_decoded_converges_to_sum_of_inputs(name: str) -> None:
    options = {"fraction": 0.05} if name == "topk" else {}
    compressor = build_compressor(name, **options)
    residual = None
    total_in = np.zeros((50, 40), np.float32)
    total_out = np.zeros((50, 40), np.float32)
    rounds = 200
    gaps = []
    for step in range(rounds):
        update = {"w": np.random.default_rng(step).normal(size=(50, 40)).astype(np.float32)}
        encoded, residual = encode_with_feedback(
            tensors=update, residual=residual, compressor=compressor
        )
        total_in += update["w"]
        total_out += decode_tensors(parts=encoded.parts, meta=encoded.meta)["w"]
        # what was sent so far plus what is still held back is exactly what was given
        assert np.allclose(total_out + residual["w"], total_in, atol=1e-3)
        gaps.append(np.abs(total_in - total_out).mean() / np.abs(total_in).mean())
    assert gaps[-1] < 0.5 * gaps[9]  # the relative gap shrinks: the residual stays bounded


def test_without_feedback_topk_loses_what_it_drops() -> None:
    compressor = build_compressor("topk", fraction=0.5)
    update = {"w": np.array([1.0, 0.25], np.float32)}
    encoded = encode_tensors(tensors=update, compressor=compressor)
    assert decode_tensors(parts=encoded.parts, meta=encoded.meta)["w"].tolist() == [1.0, 0.0]


def test_a_residual_of_another_model_is_ignored() -> None:
    compressor = build_compressor("q8")
    _, residual = encode_with_feedback(
        tensors={"w": np.ones(3, np.float32)},
        residual={"w": np.ones(4, np.float32)},
        compressor=compressor,
    )
    assert residual["w"].shape == (3,)


def _encoded() -> tuple[dict[str, np.ndarray], dict]:
    tensors = {"w": RNG.normal(size=(8, 8)).astype(np.float32), "n": np.array([3])}
    encoded = encode_tensors(tensors=tensors, compressor=build_compressor("topk", fraction=0.25))
    return dict(encoded.parts), dict(encoded.meta)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p, m: p.pop("w/indices"), "part 'indices' is missing"),
        (lambda p, m: p.__setitem__("w/indices", p["w/indices"][:-1]), "indices and"),
        (lambda p, m: p.__setitem__("w/indices", p["w/indices"].astype(np.int64)), "int32"),
        (lambda p, m: p.__setitem__("w/values", p["w/values"].astype(np.float64)), "float32"),
        (lambda p, m: p.__setitem__("w/indices", p["w/indices"] + 1000), "out of range"),
        (lambda p, m: p.__setitem__("w/values", p["w/values"] * np.nan), "NaN"),
        (lambda p, m: p.__setitem__("n/raw", np.array([1, 2])), "expected (1,)"),
        (lambda p, m: p.__setitem__("x/raw", np.array([1])), "no listed tensor"),
        (lambda p, m: m.__setitem__("dims", [8]), "dims do not match"),
        (lambda p, m: m.__setitem__("names", ["w"]), "differ"),
        (lambda p, m: m.pop("dtypes"), "incomplete"),
        (lambda p, m: m.__setitem__("codec", "zip"), "unknown compressor"),
    ],
)
def test_malformed_payloads_give_a_clear_error(damage, message: str) -> None:  # type: ignore[no-untyped-def]
    parts, meta = _encoded()
    damage(parts, meta)
    with pytest.raises(
        CompressedPayloadError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        decode_tensors(parts=parts, meta=meta)


def test_malformed_q8_codes() -> None:
    code = quantize_q8(values=np.ones(10, np.float32), block_size=4)
    for bad in (
        Q8Code(code.codes.astype(np.int8), code.scale, code.offset, (10,), 4),
        Q8Code(code.codes, code.scale[:2], code.offset, (10,), 4),
        Q8Code(code.codes, code.scale, code.offset, (11,), 4),
        Q8Code(code.codes.reshape(2, 5), code.scale, code.offset, (10,), 4),
    ):
        with pytest.raises(CompressedPayloadError):
            dequantize_q8(code=bad)


def test_non_finite_values_are_refused_at_encoding() -> None:
    with pytest.raises(CompressionError, match="NaN or Inf"):
        quantize_q8(values=np.array([1.0, np.inf], np.float32))


def test_unknown_compressor_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="known: none, q8, topk"):
        build_compressor("gzip")


def test_settings_defaults_and_validation() -> None:
    assert CompressionSettings.from_run_config({"compression.up": "none"}) is None
    settings = CompressionSettings.from_run_config({"compression.up": "q8"})
    assert settings is not None and settings.down == "none" and settings.error_feedback
    assert settings.describe() == "up q8 + error feedback, down none"
    with pytest.raises(CompressionConfigError) as info:
        CompressionSettings.from_run_config(
            {
                "compression.up": "q8",
                "compression.topk-fraction": 2,
                "compression.error-feedback": "maybe",
                "compression.level": 3,
            }
        )
    text = str(info.value)
    assert "unknown setting compression.level" in text
    assert "topk-fraction must be in (0, 1]" in text
    assert "error-feedback must be true or false" in text


def test_settings_refuse_secure_aggregation_and_client_side_dp() -> None:
    with pytest.raises(CompressionConfigError, match="secure-aggregation: SecAgg"):
        CompressionSettings.from_run_config({"compression.down": "q8", "secure-aggregation": True})
    with pytest.raises(CompressionConfigError, match="clipping norm"):
        CompressionSettings.from_run_config(
            {
                "compression.up": "topk",
                "central-dp": "client-fixed",
                "central-dp-noise-multiplier": 1.0,
            }
        )
    server_side = {
        "compression.up": "topk",
        "central-dp": "server-fixed",
        "central-dp-noise-multiplier": 1.0,
    }
    assert CompressionSettings.from_run_config(server_side) is not None
    with pytest.raises(CompressionConfigError, match="not 'topk'"):
        CompressionSettings.from_run_config(
            {"compression.up": "q8", "compression.topk-fraction": 0.1}
        )
