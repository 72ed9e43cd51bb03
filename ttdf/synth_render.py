"""Procedural TikTok-like dancers for ``ttdf synth``: appearance, dance motion and a small rasteriser.

Everything is a pure function of a seeded generator, so videos are reproducible. Forgery
artefacts (see :mod:`ttdf.synth`) only edit a :class:`Track` before rendering; real and fake
videos go through the very same rasteriser, so nothing but temporal behaviour separates them.

Coordinates are pixels with y down. "World" pixels are image pixels at camera zoom 1; body
textures live in each limb's local frame (along, across) in world pixels, so they move rigidly
with the limb.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

# Joint angles (radians) of the dance; "outward" is positive for both sides.
ANGLES = ("lean", "head", "shoulder_l", "elbow_l", "wrist_l", "shoulder_r", "elbow_r", "wrist_r",
          "hip_l", "knee_l", "ankle_l", "hip_r", "knee_r", "ankle_r")
BONES = ("torso", "neck", "head", "upper_arm_l", "forearm_l", "hand_l", "upper_arm_r", "forearm_r", "hand_r",
         "thigh_l", "shin_l", "foot_l", "thigh_r", "shin_r", "foot_r")
# Drawn limbs, back to front: (name, keypoint a, keypoint b, material).
LIMBS = (
    ("hair", "hair_a", "hair_b", "hair"),
    ("thigh_l", "hip_l", "knee_l", "bottom"), ("shin_l", "knee_l", "ankle_l", "shin"),
    ("foot_l", "ankle_l", "toe_l", "shoes"),
    ("thigh_r", "hip_r", "knee_r", "bottom"), ("shin_r", "knee_r", "ankle_r", "shin"),
    ("foot_r", "ankle_r", "toe_r", "shoes"),
    ("torso", "pelvis", "neck", "top"), ("neck", "neck", "chin", "skin"), ("head", "chin", "crown", "skin"),
    ("upper_arm_l", "shoulder_l", "elbow_l", "top"), ("forearm_l", "elbow_l", "wrist_l", "sleeve"),
    ("hand_l", "wrist_l", "tip_l", "skin"),
    ("upper_arm_r", "shoulder_r", "elbow_r", "top"), ("forearm_r", "elbow_r", "wrist_r", "sleeve"),
    ("hand_r", "wrist_r", "tip_r", "skin"),
)
LIMB_NAMES = tuple(limb[0] for limb in LIMBS)
EXTREMITIES = tuple(LIMB_NAMES.index(n) for n in ("hand_l", "hand_r", "foot_l", "foot_r"))
# Bone lengths and limb radii as fractions of the figure height.
_BONE_FRACTIONS = dict(torso=0.30, neck=0.035, head=0.075, upper_arm=0.16, forearm=0.145, hand=0.05,
                       thigh=0.235, shin=0.225, foot=0.07)
_RADIUS_FRACTIONS = dict(hair=(0.07, 0.07), thigh=(0.05, 0.037), shin=(0.035, 0.027), foot=(0.024, 0.022),
                         torso=(0.085, 0.09), neck=(0.028, 0.028), head=(0.058, 0.055), upper_arm=(0.032, 0.027),
                         forearm=(0.026, 0.021), hand=(0.025, 0.022))
_SKIN = np.array([[255, 224, 196], [234, 192, 160], [214, 160, 120], [180, 124, 90], [141, 85, 56], [95, 60, 40]],
                 np.float32)
_HAIR = np.array([[20, 16, 14], [60, 40, 25], [110, 75, 40], [200, 170, 110], [150, 60, 30], [90, 60, 140]],
                 np.float32)
_WAVES = 4  # sinusoids per material texture


@dataclass(frozen=True)
class Appearance:
    """One identity: body proportions, clothing textures and the room it dances in."""

    fig: float                    # figure height in world pixels
    base_x: float                 # where the hips sit horizontally
    ground_y: float               # where the feet touch the floor
    lengths: np.ndarray           # (bones,) world pixels
    radii: np.ndarray             # (limbs, 2) radius at each end, world pixels
    shoulder_half: float
    hip_half: float
    hair_len: float               # >1: hair falls below the chin
    colours: np.ndarray           # (limbs, 2, 3) the two colours each texture mixes
    waves: np.ndarray             # (limbs, _WAVES, 4) along-frequency, across-frequency, phase, weight
    sharpness: np.ndarray         # (limbs,) tanh gain of the texture (stripes vs smooth)
    background: np.ndarray        # (H + 2m, W + 2m, 3) float32 world backdrop
    margin: int
    noise_sigma: float            # sensor noise, grey levels


@dataclass(frozen=True)
class Motion:
    """One pose source: a dance (joint angles, hip sway) and the camera that filmed it."""

    angles: np.ndarray            # (T, len(ANGLES)) radians
    hip: np.ndarray               # (T, 2) hip offset in figure heights (y < 0 lifts the body)
    camera: np.ndarray            # (T, 3) pan x, pan y (fractions of the frame height), zoom


@dataclass
class Track:
    """Everything the rasteriser reads per frame; forgery artefacts edit these arrays in place."""

    angles: np.ndarray                # (T, len(ANGLES)) radians
    hip: np.ndarray                   # (T, 2) figure heights
    camera: np.ndarray                # (T, 3) pan x, pan y (frame heights), zoom
    fps: float
    length_scale: np.ndarray          # (T, bones)
    width_delta: np.ndarray           # (T, limbs) world pixels
    tex_shift: np.ndarray             # (T, limbs, 2) texture offset in the limb's frame, world pixels
    tex_rot: np.ndarray               # (T, limbs) texture rotation, radians
    colour_gain: np.ndarray           # (T, limbs)
    extremity_blur: np.ndarray        # (T, 4) blur sigma of hands/feet added to motion blur, pixels
    gain: np.ndarray                  # (T,) contrast around mid-grey
    offset: np.ndarray                # (T,) brightness, grey levels
    bg_warp: np.ndarray | None = None   # (T, gh, gw, 2) smooth background displacement, world pixels
    bg_shade: np.ndarray | None = None  # (T, gh, gw) zero-mean background brightness field, grey levels

    @classmethod
    def from_motion(cls, motion: Motion, fps: float) -> "Track":
        """The track of a real video: the dance as filmed, nothing added."""
        frames, limbs = len(motion.angles), len(LIMBS)
        return cls(angles=motion.angles.copy(), hip=motion.hip.copy(), camera=motion.camera.copy(), fps=fps,
                   length_scale=np.ones((frames, len(BONES))), width_delta=np.zeros((frames, limbs)),
                   tex_shift=np.zeros((frames, limbs, 2)), tex_rot=np.zeros((frames, limbs)),
                   colour_gain=np.ones((frames, limbs)), extremity_blur=np.zeros((frames, len(EXTREMITIES))),
                   gain=np.ones(frames), offset=np.zeros(frames))

    @property
    def frames(self) -> int:
        return len(self.angles)


# --------------------------------------------------------------------------- identities


def make_appearance(rng: np.random.Generator, width: int, height: int) -> Appearance:
    """Draw an identity: proportions, skin, clothes and a room, all scaled to the frame size."""
    fig = height * rng.uniform(0.55, 0.72)
    lengths = np.array([_BONE_FRACTIONS[_bone_kind(b)] for b in BONES]) * fig * rng.uniform(0.93, 1.07, len(BONES))
    for left, right in (("upper_arm_l", "upper_arm_r"), ("forearm_l", "forearm_r"), ("hand_l", "hand_r"),
                        ("thigh_l", "thigh_r"), ("shin_l", "shin_r"), ("foot_l", "foot_r")):
        lengths[BONES.index(right)] = lengths[BONES.index(left)]  # a body is symmetric
    build = rng.uniform(0.85, 1.2)
    radii = np.array([_RADIUS_FRACTIONS[_bone_kind(n)] for n in LIMB_NAMES]) * fig
    radii[LIMB_NAMES.index("torso")] *= build
    radii[[LIMB_NAMES.index(n) for n in ("upper_arm_l", "upper_arm_r", "thigh_l", "thigh_r")]] *= build ** 0.5
    materials = _materials(rng)
    colours = np.stack([materials[m][0] for *_, m in LIMBS])
    waves = np.stack([materials[m][1] for *_, m in LIMBS]).copy()
    waves[:, :, 2] += rng.uniform(0, 2 * np.pi, (len(LIMBS), 1))  # each limb starts at its own texture phase
    sharpness = np.array([materials[m][2] for *_, m in LIMBS])
    margin = int(0.25 * max(width, height)) + 4
    return Appearance(
        fig=fig, base_x=width * rng.uniform(0.4, 0.6), ground_y=height * rng.uniform(0.86, 0.95),
        lengths=lengths, radii=radii, shoulder_half=0.8 * radii[LIMB_NAMES.index("torso"), 1],
        hip_half=0.55 * radii[LIMB_NAMES.index("torso"), 0], hair_len=rng.uniform(0.4, 1.8),
        colours=colours, waves=waves, sharpness=sharpness,
        background=_background(rng, width + 2 * margin, height + 2 * margin), margin=margin,
        noise_sigma=rng.uniform(0.6, 1.6))


def _bone_kind(name: str) -> str:
    return name[:-2] if name.endswith(("_l", "_r")) else name


def _materials(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Colour pair, texture sinusoids and edge sharpness for each material of one outfit."""
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.92, 1.05) + rng.normal(0, 6, 3)
    hair = _HAIR[rng.integers(len(_HAIR))] + rng.normal(0, 8, 3)
    top, bottom, shoes = (_cloth_colour(rng) for _ in range(3))
    if rng.random() < 0.4:
        bottom = np.array([50, 70, 120], np.float32) * rng.uniform(0.6, 1.3)  # jeans
    out = {
        "skin": _texture(rng, skin, contrast=rng.uniform(2, 5), period=(6, 14), sharp=0.5),
        "hair": _texture(rng, hair, contrast=rng.uniform(15, 30), period=(3.5, 5), sharp=1.0, across=True),
        "top": _texture(rng, top, contrast=rng.uniform(10, 60), period=(4, 12), sharp=rng.uniform(0.5, 4)),
        "bottom": _texture(rng, bottom, contrast=rng.uniform(6, 30), period=(4, 12), sharp=rng.uniform(0.5, 3)),
        "shoes": _texture(rng, shoes, contrast=rng.uniform(5, 20), period=(4, 8), sharp=1.0),
    }
    out["sleeve"] = out["top"] if rng.random() < 0.4 else out["skin"]
    out["shin"] = out["skin"] if rng.random() < 0.3 else out["bottom"]
    return out


def _cloth_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(30, 230), rng.uniform(40, 245)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _texture(rng: np.random.Generator, colour: np.ndarray, *, contrast: float, period: tuple[float, float],
             sharp: float, across: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    direction = rng.normal(0, 1, 3)
    second = colour + contrast * direction / (np.linalg.norm(direction) + 1e-6) + contrast * rng.choice([-1, 1])
    freqs = 1 / rng.uniform(*period, size=(_WAVES, 1))
    angle = rng.uniform(0, np.pi, (_WAVES, 1)) if not across else rng.normal(np.pi / 2, 0.1, (_WAVES, 1))
    waves = np.concatenate([freqs * np.cos(angle), freqs * np.sin(angle), rng.uniform(0, 2 * np.pi, (_WAVES, 1)),
                            rng.dirichlet(np.full(_WAVES, 0.7))[:, None]], axis=1)
    return np.clip(np.stack([colour, second]), 0, 255).astype(np.float32), waves, float(sharp)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A procedural room, studio or outdoor backdrop: shapes, tiles, gradients and smooth noise."""
    kind = rng.choice(["room", "room", "studio", "outdoor"])
    img = np.empty((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.5, 0.75))
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    if kind == "outdoor":
        sky_top = np.array([90, 140, 220]) * rng.uniform(0.7, 1.1)
        sky_low = np.array([200, 220, 240]) * rng.uniform(0.8, 1.05)
        mix = np.clip(ys / horizon, 0, 1)
        img[:] = sky_top * (1 - mix) + sky_low * mix
        ground = _cloth_colour(rng) * 0.5 + np.array([60, 90, 50]) * 0.5
        img[horizon:] = ground
        for _ in range(rng.integers(3, 8)):  # bushes, trees, buildings
            cx, w, h = rng.uniform(0, width), rng.uniform(0.05, 0.3) * width, rng.uniform(0.1, 0.5) * height
            cv2.rectangle(img, (int(cx - w / 2), int(horizon - h)), (int(cx + w / 2), horizon),
                          tuple(float(c) for c in _cloth_colour(rng) * 0.6), -1)
    else:
        wall, floor = _cloth_colour(rng) * 0.4 + rng.uniform(120, 200) * 0.6, _cloth_colour(rng) * rng.uniform(0.4, 0.9)
        img[:] = wall
        if kind == "room":
            img[horizon:] = floor
            _tiles(rng, img[horizon:], perspective=True)
            if rng.random() < 0.4:
                _tiles(rng, img[:horizon], perspective=False)
            for _ in range(rng.integers(1, 5)):  # doors, windows, frames, furniture
                w, h = rng.uniform(0.1, 0.35) * width, rng.uniform(0.1, 0.5) * height
                x0 = rng.uniform(0, width - w)
                y0 = horizon - h if rng.random() < 0.5 else rng.uniform(0.05, 0.4) * height
                colour = tuple(float(c) for c in _cloth_colour(rng))
                cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), colour, -1)
                if rng.random() < 0.5:
                    frame = tuple(float(c) * 0.6 for c in colour)
                    cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), frame, max(1, width // 80))
            img[horizon - max(1, height // 100):horizon + 1] *= 0.75  # baseboard
        else:
            mix = np.clip((ys - horizon) / (height - horizon), 0, 1)
            img[:] = img * (1 - 0.3 * mix)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    light = ((xx - width / 2) * np.cos(angle) + (yy - height / 2) * np.sin(angle)) / max(width, height)
    img += (rng.uniform(5, 30) * light)[..., None]
    vignette = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
    img *= (1 - rng.uniform(0, 0.5) * vignette)[..., None]
    img += _smooth_noise(rng, height, width, rng.uniform(2, 9))[..., None] * rng.uniform(0.7, 1.3, 3)
    return np.clip(img, 0, 255).astype(np.float32)


def _tiles(rng: np.random.Generator, region: np.ndarray, *, perspective: bool) -> None:
    if rng.random() < 0.3:
        return
    height, width = region.shape[:2]
    cell = rng.uniform(0.04, 0.12) * width
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = 0.3 + yy / max(height, 1) if perspective else np.ones_like(yy)
    u, v = (xx - width / 2) / (cell * depth), yy / (cell * depth ** 0.5)
    lines = np.minimum(np.abs(u - np.round(u)), np.abs(v - np.round(v)))
    region -= (rng.uniform(10, 40) * np.clip(1 - lines * cell / 1.2, 0, 1))[..., None]
    if rng.random() < 0.5:  # checkerboard
        region += (rng.uniform(-25, 25) * ((np.floor(u) + np.floor(v)) % 2))[..., None]


def _smooth_noise(rng: np.random.Generator, height: int, width: int, amplitude: float) -> np.ndarray:
    """Fractal value noise: octaves of random grids upsampled bicubically."""
    out = np.zeros((height, width), np.float32)
    for octave, cells in enumerate((3, 6, 12, 24)):
        grid = rng.normal(0, 1, (cells + 1, cells + 1)).astype(np.float32)
        out += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) * 0.6 ** octave
    return amplitude * out


# --------------------------------------------------------------------------- dance


def make_motion(rng: np.random.Generator, frames: int, fps: float) -> Motion:
    """A dance: each angle is a few harmonics of one tempo, with left/right limbs coupled."""
    t = np.arange(frames) / fps
    tempo = rng.uniform(0.35, 0.9)  # movement cycles per second
    angles = np.zeros((frames, len(ANGLES)))

    def wave(amplitude: float, phases: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        phases = rng.uniform(0, 2 * np.pi, 3) if phases is None else phases
        weights = np.array([1.0, rng.uniform(0, 0.5), rng.uniform(0, 0.2)])
        signal = sum(w * np.sin(2 * np.pi * (k + 1) * tempo * t + p) for k, (w, p) in enumerate(zip(weights, phases)))
        return amplitude * signal / weights.sum(), phases

    def ranged(name: str, low: float, high: float, swing: float, phases: np.ndarray | None = None) -> np.ndarray:
        centre = rng.uniform(low, high)
        room = min(centre - low, high - centre) if low < high else 0.0
        signal, phases = wave(min(swing, room), phases)
        angles[:, ANGLES.index(name)] = centre + signal
        return phases

    coupling = {"mirror": 0.0, "alternate": np.pi}
    arm_style, leg_style = rng.choice(["mirror", "alternate", "free"]), rng.choice(["mirror", "alternate"])
    for part, (low, high, swing) in (("shoulder", (0.15, 2.6, rng.uniform(0.3, 1.1))),
                                     ("elbow", (0.0, 1.9, rng.uniform(0.2, 0.8))),
                                     ("wrist", (-0.3, 0.5, rng.uniform(0.05, 0.3)))):
        phases = ranged(f"{part}_l", low, high, swing)
        ranged(f"{part}_r", low, high, swing, None if arm_style == "free" else phases + coupling[arm_style])
    for part, (low, high, swing) in (("hip", (0.02, 0.3, rng.uniform(0.03, 0.15))),
                                     ("ankle", (0.2, 0.7, rng.uniform(0.02, 0.1)))):
        phases = ranged(f"{part}_l", low, high, swing)
        ranged(f"{part}_r", low, high, swing, phases + coupling[leg_style])
    bounce = rng.uniform(0, 2 * np.pi, 3)  # both knees bend on the beat; the body sinks with them
    knee_swing = rng.uniform(0.15, 0.5)
    ranged("knee_l", 0.0, 1.2, knee_swing, bounce)
    ranged("knee_r", 0.0, 1.2, knee_swing, bounce)
    sway, _ = wave(rng.uniform(0.01, 0.07))
    angles[:, ANGLES.index("lean")] = -1.5 * sway + wave(rng.uniform(0.02, 0.08))[0]
    angles[:, ANGLES.index("head")] = wave(rng.uniform(0.03, 0.2))[0]
    hop = -rng.uniform(0.0, 0.02) * 0.5 * (1 + np.sin(4 * np.pi * tempo * t + bounce[0] + np.pi))
    hip = np.stack([sway, hop], axis=1)
    pan_speed = rng.normal(0, 0.012, 2) * rng.random()  # frame heights per second; some cameras are still
    drift = rng.uniform(0, 0.01, 2) * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t[:, None] + rng.uniform(0, 6.3, 2))
    zoom = rng.uniform(0.97, 1.05) * (1 + rng.normal(0, 0.015) * t)
    camera = np.concatenate([pan_speed * t[:, None] + drift, zoom[:, None]], axis=1)
    return Motion(angles=angles, hip=hip, camera=camera)


def keypoints(app: Appearance, track: Track) -> dict[str, np.ndarray]:
    """Forward kinematics: (T, 2) world positions of every keypoint; the lower foot rests on the floor."""
    a = track.angles
    lengths = app.lengths * track.length_scale
    bone = {name: lengths[:, i, None] for i, name in enumerate(BONES)}
    angle = {name: a[:, i] for i, name in enumerate(ANGLES)}
    lean = angle["lean"]
    up, perp = _unit(np.pi + lean), np.stack([np.cos(lean), -np.sin(lean)], axis=1)
    rel: dict[str, np.ndarray] = {"pelvis": np.zeros((len(a), 2))}
    for side, s in (("l", -1.0), ("r", 1.0)):
        hip = s * app.hip_half * perp
        bend = angle[f"knee_{side}"]  # seen from the front: the knee opens outwards and the leg shortens
        short = np.cos(0.5 * bend)[:, None]
        thigh, shin = s * (angle[f"hip_{side}"] + 0.5 * bend), s * (angle[f"hip_{side}"] - 0.4 * bend)
        knee = hip + bone[f"thigh_{side}"] * short * _unit(thigh)
        ankle = knee + bone[f"shin_{side}"] * short * _unit(shin)
        toe = ankle + bone[f"foot_{side}"] * _unit(shin + s * (np.pi / 2 - angle[f"ankle_{side}"]))  # points outwards
        rel.update({f"hip_{side}": hip, f"knee_{side}": knee, f"ankle_{side}": ankle, f"toe_{side}": toe})
    foot_radius = app.radii[LIMB_NAMES.index("foot_l")].max()
    lowest = np.max([rel[k][:, 1] for k in ("ankle_l", "ankle_r", "toe_l", "toe_r")], axis=0) + foot_radius
    pelvis = np.stack([app.base_x + app.fig * track.hip[:, 0], app.ground_y - lowest + app.fig * track.hip[:, 1]], 1)
    points = {name: pelvis + offset for name, offset in rel.items()}
    neck = pelvis + bone["torso"] * up
    head_dir = _unit(np.pi + lean + angle["head"])
    chin = neck + bone["neck"] * head_dir
    crown = chin + bone["head"] * head_dir
    points.update(neck=neck, chin=chin, crown=crown, hair_a=crown + (chin - crown) * app.hair_len,
                  hair_b=crown + 0.15 * bone["head"] * head_dir)
    shoulders = neck - 0.12 * bone["torso"] * up
    for side, s in (("l", -1.0), ("r", 1.0)):
        shoulder = shoulders + s * app.shoulder_half * perp
        upper = lean + s * angle[f"shoulder_{side}"]
        elbow = shoulder + bone[f"upper_arm_{side}"] * _unit(upper)
        fore = upper + s * angle[f"elbow_{side}"]
        wrist = elbow + bone[f"forearm_{side}"] * _unit(fore)
        tip = wrist + bone[f"hand_{side}"] * _unit(fore + s * angle[f"wrist_{side}"])
        points.update({f"shoulder_{side}": shoulder, f"elbow_{side}": elbow, f"wrist_{side}": wrist,
                       f"tip_{side}": tip})
    return points


def limb_frames(app: Appearance, track: Track) -> tuple[np.ndarray, np.ndarray]:
    """Origin (T, limbs, 2) and direction angle (T, limbs) of each limb in world pixels."""
    points = keypoints(app, track)
    origins = np.stack([points[a] for _, a, _, _ in LIMBS], axis=1)
    ends = np.stack([points[b] for _, _, b, _ in LIMBS], axis=1)
    delta = ends - origins
    return origins, np.arctan2(delta[..., 1], delta[..., 0])


def _unit(angle: np.ndarray) -> np.ndarray:
    """Unit vector at ``angle`` from straight down (positive turns towards +x)."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


# --------------------------------------------------------------------------- rasteriser


def render(app: Appearance, track: Track, width: int, height: int,
           rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (RGB uint8 frame, float32 person alpha) for every frame of ``track``."""
    points = keypoints(app, track)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    centre = np.array([width / 2, height / 2])
    cams = centre + track.camera[:, :2] * height
    zooms = track.camera[:, 2]
    tips = np.stack([points[LIMBS[i][2]] for i in EXTREMITIES], axis=1)  # (T, 4, 2)
    speed = np.linalg.norm(np.gradient(tips, axis=0), axis=-1) * zooms[:, None]  # pixels per frame
    blur = np.sqrt(np.minimum(0.08 * speed, 1.5) ** 2 + track.extremity_blur ** 2)  # motion blur + artefact
    for t in range(track.frames):
        cam, zoom = cams[t], float(zooms[t])
        img = _backdrop(app, track, t, gx, gy, cam, zoom, centre)
        alpha = np.zeros((height, width), np.float32)
        ends = [((points[a][t] - cam) * zoom + centre, (points[b][t] - cam) * zoom + centre) for _, a, b, _ in LIMBS]
        for i, (a, b) in enumerate(ends):
            radii = np.maximum(app.radii[i] + track.width_delta[t, i], 0.5) * zoom
            _draw_limb(img, alpha, gx, gy, a, b, radii, app, i, track, t, zoom)
        for j, i in enumerate(EXTREMITIES):
            if blur[t, j] > 0.25:
                _blur_capsule(img, gx, gy, *ends[i], app.radii[i] * zoom, float(blur[t, j]))
        img = (img - 128.0) * track.gain[t] + 128.0 + track.offset[t]
        img += rng.standard_normal(img.shape, dtype=np.float32) * app.noise_sigma
        yield np.clip(np.rint(img), 0, 255).astype(np.uint8), alpha


def _backdrop(app: Appearance, track: Track, t: int, gx: np.ndarray, gy: np.ndarray, cam: np.ndarray,
              zoom: float, centre: np.ndarray) -> np.ndarray:
    """Sample the world backdrop through the camera (one resampling, warp included)."""
    height, width = gx.shape
    map_x = (gx - centre[0]) / zoom + cam[0] + app.margin
    map_y = (gy - centre[1]) / zoom + cam[1] + app.margin
    if track.bg_warp is not None:
        warp = cv2.resize(track.bg_warp[t].astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        map_x, map_y = map_x + warp[..., 0], map_y + warp[..., 1]
    img = cv2.remap(app.background, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT101)
    if track.bg_shade is not None:
        shade = cv2.resize(track.bg_shade[t].astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        img += (shade - shade.mean())[..., None]  # spatial variation only: no frame-wide brightness change
    return img


def _capsule(gx: np.ndarray, gy: np.ndarray, a: np.ndarray, b: np.ndarray, radii: np.ndarray, pad: float):
    """Bounding-box slices plus along/across coordinates and distance to a tapered segment."""
    height, width = gx.shape
    reach = float(radii.max()) + pad + 1.0
    x0, x1 = int(max(np.floor(min(a[0], b[0]) - reach), 0)), int(min(np.ceil(max(a[0], b[0]) + reach) + 1, width))
    y0, y1 = int(max(np.floor(min(a[1], b[1]) - reach), 0)), int(min(np.ceil(max(a[1], b[1]) + reach) + 1, height))
    if x0 >= x1 or y0 >= y1:
        return None
    box = (slice(y0, y1), slice(x0, x1))
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    length = float(np.hypot(dx, dy)) or 1e-3
    ex, ey = dx / length, dy / length
    wx, wy = gx[box] - float(a[0]), gy[box] - float(a[1])
    along, across = wx * ex + wy * ey, wy * ex - wx * ey
    frac = np.clip(along * (1 / length), 0, 1)
    radius = float(radii[0]) + float(radii[1] - radii[0]) * frac
    dist = np.sqrt(np.square(along - frac * length) + np.square(across))
    return box, along, across, radius, dist


def _draw_limb(img: np.ndarray, alpha: np.ndarray, gx: np.ndarray, gy: np.ndarray, a: np.ndarray, b: np.ndarray,
               radii: np.ndarray, app: Appearance, i: int, track: Track, t: int, zoom: float) -> None:
    found = _capsule(gx, gy, a, b, radii, 0.5)
    if found is None:
        return
    box, along, across, radius, dist = found
    cover = np.clip(radius - dist + 0.5, 0, 1)
    inside = cover > 0
    if not inside.any():
        return
    cover, along, across, radius = cover[inside], along[inside], across[inside], radius[inside]
    rot, (shift_u, shift_v) = float(track.tex_rot[t, i]), track.tex_shift[t, i]
    cos, sin = np.cos(rot) / zoom, np.sin(rot) / zoom  # texture coordinates: world pixels in the limb's frame
    u = along * cos - across * sin + float(shift_u)
    v = along * sin + across * cos + float(shift_v)
    fu, fv, phase, weight = app.waves[i].astype(np.float32).T
    pattern = weight @ np.sin((2 * np.pi) * (fu[:, None] * u + fv[:, None] * v) + phase[:, None])
    sharp = float(app.sharpness[i])
    mix = 0.5 + (0.5 / np.tanh(sharp)) * np.tanh(sharp * pattern)
    lo, hi = app.colours[i]
    side = np.clip(across / radius, -1, 1)
    shade = (1.0 - 0.3 * side * side + 0.06 * side) * float(track.colour_gain[t, i])
    colour = (lo + (hi - lo) * mix[:, None]) * shade[:, None]
    c = cover[:, None]
    region = img[box]
    region[inside] = region[inside] * (1 - c) + colour * c
    mask = alpha[box]
    mask[inside] = np.maximum(mask[inside], cover)


def _blur_capsule(img: np.ndarray, gx: np.ndarray, gy: np.ndarray, a: np.ndarray, b: np.ndarray,
                  radii: np.ndarray, sigma: float) -> None:
    """Blend a blurred copy of the image over a soft region around a hand or foot."""
    found = _capsule(gx, gy, a, b, radii, 3 * sigma + 2)
    if found is None:
        return
    box, _, _, radius, dist = found
    weight = np.clip((radius + 2 * sigma - dist) / (2 * sigma), 0, 1)[..., None]
    ys, xs = box
    pad = int(np.ceil(3 * sigma)) + 1
    outer = (slice(max(ys.start - pad, 0), ys.stop + pad), slice(max(xs.start - pad, 0), xs.stop + pad))
    blurred = cv2.GaussianBlur(img[outer], (0, 0), sigma, borderType=cv2.BORDER_REFLECT101)
    dy, dx = ys.start - outer[0].start, xs.start - outer[1].start
    inner = blurred[dy:dy + ys.stop - ys.start, dx:dx + xs.stop - xs.start]
    img[box] = img[box] * (1 - weight) + inner * weight
