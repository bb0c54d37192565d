"""Action tokens -> ee_delta_7d: OpenVLA's bins by hand, statistics, gripper, decode failures."""

from __future__ import annotations

import numpy as np
import pytest
from vla_bench_openvla.action_tokenizer import ActionTokenizer
from vla_bench_openvla.actions import (
    GRIPPER_CONVENTIONS,
    ActionDecoder,
    UnnormKeyError,
    gripper_convention,
    select_stats,
)

TOK = ActionTokenizer(vocab_size=32000, n_bins=256)
STEP = 2.0 / 255.0  # bin width of linspace(-1, 1, 256)


def test_token_ids_by_hand() -> None:
    # digitize(-1) = 1 -> 31999; digitize(1) = 256 -> 31744; 0 lies in [bins[127], bins[128])
    # = [-1/255, 1/255) -> digitize 128 -> 31872; 0.5 lies in [bins[191], bins[192]) =
    # [0.498.., 0.505..) -> 31808; anything beyond [-1, 1] is clipped first.
    ids = TOK.encode(np.array([-1.0, 1.0, 0.0, 0.5, -7.0, 3.0]))
    assert ids.tolist() == [31999, 31744, 31872, 31808, 31999, 31744]
    assert TOK.first_id == 31744


def test_bin_centres_by_hand() -> None:
    values, valid = TOK.decode(np.array([31999, 31872, 31808, 31745, 31744]))
    assert valid.all()
    expected = [
        -1.0 + STEP / 2,  # id 31999 -> centre 0
        0.0,  # id 31872 -> centre 127 = (bins[127] + bins[128]) / 2
        -1.0 + 191.5 * STEP,  # id 31808 -> centre 191 = 0.50196...
        1.0 - STEP / 2,  # id 31745 -> centre 254
        1.0 - STEP / 2,  # id 31744 -> 255, clipped onto centre 254 (OpenVLA's own fold)
    ]
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    assert values[2] == pytest.approx(0.50196078)


def test_non_action_ids_are_failures_not_numbers() -> None:
    # 31743 is a text token, 32000 is <PAD>, 32063 the last padding row of the LLM head.
    values, valid = TOK.decode(np.array([31743, 32000, 32063, 0, 31800]))
    assert valid.tolist() == [False, False, False, False, True]
    assert np.isnan(values[:4]).all() and np.isfinite(values[4])


def test_round_trip_error_is_at_most_one_bin() -> None:
    x = np.linspace(-1, 1, 1001)
    values, valid = TOK.decode(TOK.encode(x))
    assert valid.all()
    assert np.abs(values - x).max() <= STEP + 1e-12


BRIDGE = {
    "action": {
        "q01": [-0.02, -0.04, -0.03, -0.1, -0.1, -0.2, 0.0],
        "q99": [0.02, 0.04, 0.05, 0.1, 0.1, 0.2, 1.0],
        "mask": [True, True, True, True, True, True, False],
    }
}


def test_unnormalize_scales_masked_dims_and_leaves_the_gripper() -> None:
    stats = select_stats({"bridge_orig": BRIDGE}, None)
    out = stats.unnormalize(np.array([-1.0, 1.0, 0.0, 0.5, -0.5, 0.0, 0.75]))
    np.testing.assert_allclose(out, [-0.02, 0.04, 0.01, 0.05, -0.05, 0.0, 0.75], atol=1e-12)


def test_mask_defaults_to_all_dims() -> None:
    stats = select_stats({"d": {"action": {"q01": [0.0, 2.0], "q99": [1.0, 4.0]}}}, "d")
    np.testing.assert_allclose(stats.unnormalize(np.array([0.0, 1.0])), [0.5, 4.0])


def test_unnorm_key_errors_list_the_keys() -> None:
    both = {"bridge_orig": BRIDGE, "fractal20220817_data": BRIDGE}
    with pytest.raises(UnnormKeyError, match=r"unnorm_key=<key>.*bridge_orig, fractal"):
        select_stats(both, None)
    with pytest.raises(UnnormKeyError, match=r"'bridg' is not.*bridge_orig, fractal20220817_data"):
        select_stats(both, "bridg")
    with pytest.raises(UnnormKeyError, match="no action statistics"):
        select_stats({}, None)
    assert select_stats(both, "fractal20220817_data").key == "fractal20220817_data"


def test_gripper_conventions() -> None:
    assert set(GRIPPER_CONVENTIONS) == {"open1_close0", "close1_open0", "signed", "signed_inverted"}
    # ee_delta_7d: -1 open, +1 closed
    assert gripper_convention("open1_close0").to_ee(1.0) == -1.0
    assert gripper_convention("open1_close0").to_ee(0.0) == 1.0
    assert gripper_convention("close1_open0").to_ee(1.0) == 1.0
    assert gripper_convention("signed").to_ee(-0.5) == -0.5
    assert gripper_convention("signed_inverted").to_ee(1.0) == -1.0
    with pytest.raises(ValueError, match=r"gripper='open' is not a known convention.*open1_close0"):
        gripper_convention("open")


def _decoder(binarize: bool = False) -> ActionDecoder:
    stats = select_stats({"bridge_orig": BRIDGE}, None)
    return ActionDecoder(TOK, stats, gripper_convention("open1_close0"), binarize)


def test_decoder_maps_tokens_to_ee_delta_7d() -> None:
    # dx at 0 (id 31872), dy at the top centre, ..., gripper at the top centre (~1 = open)
    ids = np.array([31872, 31745, 31999, 31872, 31872, 31872, 31745])
    decoded = _decoder()(ids)
    top = 1.0 - STEP / 2
    assert decoded.failures == 0
    np.testing.assert_allclose(
        decoded.action,
        [0.0, 0.5 * (top + 1) * 0.08 - 0.04, 0.5 * (STEP / 2) * 0.08 - 0.03, 0, 0, 0, 1 - 2 * top],
        atol=1e-12,
    )
    assert decoded.action[-1] < -0.99  # open
    assert _decoder(binarize=True)(ids).action[-1] == -1.0


def test_decode_failures_get_the_documented_noop() -> None:
    decoder = _decoder()
    closed = np.array([31872] * 6 + [31999])  # gripper centre 0 -> 0 = closed -> ee ~ +1
    assert decoder(closed).action[-1] > 0.99
    bad = np.array([32000, 31872, 100, 31872, 31872, 31872, 32001])
    decoded = decoder(bad)
    assert decoded.failures == 3
    assert decoded.action[0] == 0.0 and decoded.action[2] == 0.0  # no motion
    assert decoded.action[-1] > 0.99  # the gripper holds its previous command
    decoder.reset()
    assert decoder(bad).action[-1] == -1.0  # a new episode starts open
    with pytest.raises(ValueError, match="expected 7 action token ids"):
        decoder(np.array([31872] * 6))
