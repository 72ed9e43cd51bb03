"""TOF-Net family: registry, every model's forward/backward, flow statistics, input contract."""
from __future__ import annotations

import copy

import pytest
import timm
import torch

from tofnet.models import TEMPORAL_KINDS, create_model, flow_statistics, list_models, num_flow_stats, registry
from tofnet.models.backbone import flow_to_input
from tofnet.models.temporal import TemporalPool
from ttdf.errors import DownloadError, TTDFError

B, T, H, W = 2, 4, 64, 64
EXPECTED = {"tofnet", "tofnet_no_stats", "tofnet_no_flow", "tofnet_no_rgb", "tofnet_residual", "rgb_frame", "rgb_temporal",
            "flow_only", "flow_stats_only", "xception_frame", "efficientnet_b4_frame", "r2plus1d_18", "meso4",
            "meso_inception4"}


def _batch(keys=("rgb", "flow"), seed: int = 0, size: int = H) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"rgb": (B, T, 3, size, size), "flow": (B, T, 2, size, size), "residual": (B, T, 3, size, size)}
    return {k: torch.randn(*shapes[k], generator=g) * (3.0 if k == "flow" else 1.0) for k in keys}


def _forward_backward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    model.train()
    logits = model(batch)
    assert logits.shape == (B,) and torch.isfinite(logits).all()
    (logits * torch.tensor([1.0, -1.0])).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} receives no gradient (unused parameter)"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
    return logits


def test_registry_lists_all_models():
    assert EXPECTED <= set(list_models())


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_on_only_its_required_inputs(name):
    model = create_model(name)
    assert set(model.required_inputs) <= {"rgb", "flow", "residual"} and model.required_inputs
    assert {"input_size", "clip_len", "mean", "std"} <= set(model.pretrained_cfg)
    assert model.model_config["name"] == name
    # 32 px keeps the big baselines (EfficientNet-B4, Xception, R(2+1)D) quick; e.g. flow_only never sees "rgb"
    _forward_backward(model, _batch(model.required_inputs, size=32))


@pytest.mark.parametrize("temporal", TEMPORAL_KINDS)
def test_tofnet_temporal_kinds_and_flow_field_input(temporal):
    model = create_model("tofnet", temporal=temporal, flow_input="field", embed_dim=32, backbone="lcnet_050")
    assert model.model_config["kwargs"]["temporal"] == temporal
    _forward_backward(model, _batch())


def test_required_inputs_follow_switches_and_missing_input_is_named():
    assert create_model("flow_only").required_inputs == ("flow",)
    assert create_model("rgb_temporal").required_inputs == ("rgb",)
    assert create_model("tofnet").required_inputs == ("rgb", "flow")
    with pytest.raises(KeyError, match="flow"):
        create_model("flow_stats_only")(_batch(("rgb",)))


def test_model_config_rebuilds_the_same_architecture():
    model = create_model("tofnet_no_stats", temporal="gru", embed_dim=24, rgb_diff=False)
    rebuilt = create_model(model.model_config["name"], **model.model_config["kwargs"])
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in rebuilt.state_dict().items()}
    assert rebuilt.model_config == model.model_config
    assert "pretrained" not in model.model_config["kwargs"]


def test_unknown_model_and_kwarg_and_bad_values_raise_ttdf_errors():
    with pytest.raises(TTDFError, match="unknown model 'nope'.*tofnet"):
        create_model("nope")
    with pytest.raises(TTDFError, match="no option.*colour"):
        create_model("tofnet", colour="red")
    with pytest.raises(TTDFError, match="temporal='lstm'"):
        create_model("tofnet", temporal="lstm")
    with pytest.raises(TTDFError, match="at least one"):
        create_model("tofnet", use_rgb=False, use_flow=False, use_flow_stats=False)
    with pytest.raises(TTDFError, match="unknown timm backbone"):
        create_model("rgb_frame", backbone="not_a_net")


def test_registering_a_name_twice_raises(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))

    def my_model(pretrained: bool = False, **kwargs):
        return torch.nn.Linear(1, 1)

    registry.register_model(my_model)
    assert "my_model" in list_models()
    with pytest.raises(TTDFError, match="already registered"):
        registry.register_model(my_model)
    with pytest.raises(TTDFError, match="already registered"):
        registry.register_model(name="tofnet")(my_model)


def test_pretrained_offline_becomes_download_error(monkeypatch):
    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("We couldn't connect to 'https://huggingface.co'\nmore detail")
        raise AssertionError("only the pretrained call is expected")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(DownloadError, match="--pretrained-weights FILE") as info:
        create_model("rgb_frame", pretrained=True)
    assert "\n" not in str(info.value) and "mobilenetv3_small_100" in str(info.value)


def test_flow_statistics_separate_translation_from_noise():
    translate = torch.zeros(1, T, 2, H, W)
    translate[:, :, 0] = 3.0  # everything moves 3 px right
    noise = torch.randn(1, T, 2, H, W, generator=torch.Generator().manual_seed(1)) * 3.0
    bins = 16
    a, b = flow_statistics(translate, bins)[0, 0], flow_statistics(noise, bins)[0, 0]
    assert a.shape == (num_flow_stats(bins),)
    for s in (a, b):
        assert torch.allclose(s[:bins].sum(), torch.tensor(1.0), atol=1e-4)  # magnitude histogram
        assert torch.allclose(s[bins:2 * bins].sum(), torch.tensor(1.0), atol=1e-4)  # direction histogram
    assert a[bins:2 * bins].max() > 0.99 and b[bins:2 * bins].max() < 0.2  # one direction vs all of them
    moments = slice(2 * bins + 3, None)
    coherence, roughness = 4, 5
    assert a[moments][coherence] > 0.99 and b[moments][coherence] < 0.1
    assert a[moments][roughness] < 1e-4 and b[moments][roughness] > 1.0
    assert (a - b).norm() > 2.0


def test_flow_statistics_are_differentiable_even_without_motion():
    flow = torch.zeros(1, T, 2, 16, 16, requires_grad=True)
    flow_statistics(flow).sum().backward()
    assert torch.isfinite(flow.grad).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert flow_statistics(torch.randn(1, 2, 2, 8, 8)).dtype == torch.float32


def test_flow_images_do_not_depend_on_batch_mates():
    small = torch.randn(1, 1, 2, 16, 16)
    big = torch.randn(1, 1, 2, 16, 16) * 50
    mean, std = (0.5,) * 3, (0.25,) * 3
    alone = flow_to_input(small, "image", mean, std)
    together = flow_to_input(torch.cat([small, big]), "image", mean, std)[:1]
    assert torch.equal(alone, together)


def test_temporal_pool_shapes_and_order_sensitivity():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16)
    for kind in TEMPORAL_KINDS:
        pool = TemporalPool(kind, 16).eval()
        y, y_rev = pool(x), pool(x.flip(1))
        assert y.shape == (2, 32)
        assert torch.allclose(y, y_rev, atol=1e-5) == (kind == "mean"), kind


def test_eval_is_deterministic_and_autocast_runs():
    model = create_model("tofnet", embed_dim=32).eval()
    batch = _batch()
    with torch.no_grad():
        assert torch.equal(model(batch), model(batch))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.isfinite(model(batch).float()).all()


def test_early_fusion_sees_the_differences_and_flow_scale_shrinks_the_flow_stream():
    model = create_model("tofnet", embed_dim=16, use_flow_stats=False).eval()
    assert model.rgb_encoder.backbone.conv_stem.in_channels == 6 and not hasattr(model, "diff_encoder")
    seen = {}
    model.rgb_encoder.register_forward_pre_hook(lambda _, args: seen.update(rgb=args[0]))
    model.flow_encoder.register_forward_pre_hook(lambda _, args: seen.update(flow=args[0]))
    batch = _batch()
    with torch.no_grad():
        model(batch)
    rgb = batch["rgb"]
    assert torch.equal(seen["rgb"][:, :, :3], rgb)
    assert torch.equal(seen["rgb"][:, :, 3:, :, :][:, 1:], rgb[:, 1:] - rgb[:, :-1])  # x_t - x_{t-1}
    assert torch.equal(seen["rgb"][:, 0, 3:], rgb[:, 1] - rgb[:, 0])  # frame 0 borrows the first difference
    assert seen["flow"].shape == (B, T, 3, H // 2, W // 2)  # flow images at half the input size
    with pytest.raises(TTDFError, match="diff_fusion"):
        create_model("tofnet", diff_fusion="late")
    with pytest.raises(TTDFError, match="flow_scale"):
        create_model("tofnet", flow_scale=0.0)


def _rgb_encoder_input(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the model's RGB backbone receives for ``batch`` (B, T, C, H, W)."""
    seen = {}
    handle = model.rgb_encoder.register_forward_pre_hook(lambda _, args: seen.update(x=args[0]))
    with torch.no_grad():
        model.eval()(batch)
    handle.remove()
    return seen["x"]


def test_residual_stream_enters_the_rgb_backbone_with_frames_and_differences():
    model = create_model("tofnet", embed_dim=16, use_residual=True, use_flow=False, use_flow_stats=False).eval()
    assert model.required_inputs == ("rgb", "residual") and model.rgb_encoder.backbone.conv_stem.in_channels == 9
    batch = _batch(("rgb", "residual"))
    seen = _rgb_encoder_input(model, batch)
    assert torch.equal(seen[:, :, 6:], batch["residual"])
    assert torch.equal(seen[:, 1:, 3:6], batch["rgb"][:, 1:] - batch["rgb"][:, :-1])
    _forward_backward(create_model("tofnet", embed_dim=16, use_residual=True, rgb_diff=False),
                      _batch(("rgb", "flow", "residual")))
    with pytest.raises(KeyError, match="residual"):
        model(_batch(("rgb",)))
    with pytest.raises(TTDFError, match="use_residual"):
        create_model("tofnet", use_residual=True, use_rgb=False)


def test_scene_blind_rgb_stream_sees_only_the_residual():
    model = create_model("tofnet", embed_dim=16, use_residual=True, rgb_frames=False, rgb_diff=False).eval()
    assert model.required_inputs == ("flow", "residual") and model.rgb_encoder.backbone.conv_stem.in_channels == 3
    batch = _batch(("flow", "residual"))
    assert torch.equal(_rgb_encoder_input(model, batch), batch["residual"])
    _forward_backward(model, batch)
    with pytest.raises(TTDFError, match="rgb_frames"):
        create_model("tofnet", rgb_frames=False)


def test_tofnet_residual_is_the_scene_blind_stream_alone():
    model = create_model("tofnet_residual", embed_dim=16).eval()
    assert model.required_inputs == ("residual",)  # no frames, no flow image, no flow statistics
    kwargs = model.model_config["kwargs"]
    assert kwargs["use_residual"] and not (kwargs["rgb_frames"] or kwargs["rgb_diff"] or kwargs["use_flow"]
                                           or kwargs["use_flow_stats"])
    batch = _batch(("residual",))
    assert torch.equal(_rgb_encoder_input(model, batch), batch["residual"])
    # the same network as the full model with those switches: one model, a named set of defaults
    same = create_model("tofnet", embed_dim=16, **{k: kwargs[k] for k in ("use_residual", "rgb_frames", "rgb_diff",
                                                                         "use_flow", "use_flow_stats")})
    assert [p.shape for p in same.parameters()] == [p.shape for p in model.parameters()]


@pytest.mark.parametrize("size, stride, bias, small", [(2, 1, False, True), (4, 2, True, True), (3, 1, True, False),
                                                       (8, 1, False, False)])
def test_small_map_convolution_is_the_same_function_with_the_same_gradients(size, stride, bias, small, monkeypatch):
    """Maps of up to 4 pixels go through one matrix product (faster on CPU), larger ones through nn.Conv2d."""
    from tofnet.models.backbone import SMALL_MAP_PIXELS, SmallMapConv2d, small_map_convs
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(6, 5, 3, stride=stride, padding=1, bias=bias)
    fast = small_map_convs(torch.nn.Sequential(copy.deepcopy(plain)))[0]
    assert type(fast) is SmallMapConv2d and fast.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(3, 6, size, size).contiguous(memory_format=torch.channels_last)
    inputs = [x.clone().requires_grad_(True) for _ in range(2)]
    outputs = [conv(i) for conv, i in zip((plain, fast), inputs)]
    torch.testing.assert_close(outputs[1], outputs[0])
    assert (outputs[0].shape[-2] * outputs[0].shape[-1] <= SMALL_MAP_PIXELS) == small
    if small:  # the matrix product really ran
        monkeypatch.setattr(torch.nn.Conv2d, "forward", lambda *a: pytest.fail("went through nn.Conv2d"))
        fast(x)
    for out in outputs:
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    torch.testing.assert_close(inputs[1].grad, inputs[0].grad)
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad)
    if bias:
        torch.testing.assert_close(fast.bias.grad, plain.bias.grad)


def test_frame_encoders_use_small_map_convolutions_and_keep_their_weights_names():
    from tofnet.models.backbone import FrameEncoder, SmallMapConv2d, create_backbone, small_map_convs
    encoder = FrameEncoder("resnet10t")
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(type(m) is SmallMapConv2d for m in convs)
    assert [f"backbone.{k}" for k in create_backbone("resnet10t").state_dict()] == list(encoder.state_dict())
    small_map_convs(encoder, enabled=False)  # undone: plain nn.Conv2d again, as the bench compares
    assert all(type(m) is torch.nn.Conv2d for m in encoder.modules() if isinstance(m, torch.nn.Conv2d))
