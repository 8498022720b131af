"""log-mel: a hand-made STFT power spectrum equal to torch.stft's, triangular mel filters, and a
tone whose energy lands in the right mel band."""

import torch
from torch.overrides import TorchFunctionMode

from lab.melspec import hz_to_mel, log_mel, mel_filterbank, mel_to_hz, stft_power, tone

torch.set_num_threads(1)


class Calls(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def test_stft_power_by_hand_equals_torch_stft():
    wave = torch.randn(8000, generator=torch.Generator().manual_seed(0))
    with Calls() as calls:
        got = stft_power(wave, 400, 160)
    assert "stft" not in calls.names, "stft_power calls torch.stft: build it from pad, unfold, the window and rfft"
    want = torch.stft(wave, 400, 160, window=torch.hann_window(400), center=True, pad_mode="reflect",
                      return_complex=True).abs() ** 2
    assert got.shape == want.shape, (f"shape {tuple(got.shape)}, expected {tuple(want.shape)} = (n_fft // 2 + 1, "
                                     "1 + len // hop) with n_fft // 2 samples of reflect padding on each side")
    err = ((got - want).abs() / want.abs().clamp(min=1e-3)).max()
    assert err < 1e-3, (f"the power spectrum differs from torch.stft's (max relative error {err:.3g}): periodic Hann "
                        "window (torch.hann_window), frames every hop samples, |rfft|^2")


def test_filterbank_is_triangles_on_the_mel_scale():
    fb = mel_filterbank(201, 40, 16000)
    assert fb.shape == (201, 40), f"shape {tuple(fb.shape)}, expected (n_freqs, n_mels) = (201, 40)"
    assert fb.min() >= 0 and fb.max() <= 1 + 1e-6, "filters are triangles between 0 and 1"
    peaks = fb.argmax(0)
    assert bool((peaks[1:] >= peaks[:-1]).all()), f"filter peaks should rise with k, got bins {peaks.tolist()}"
    freqs = torch.linspace(0, 8000, 201)
    widths = [(fb[:, k] > 0).sum().item() for k in (2, 38)]
    assert widths[1] > 3 * widths[0], (
        f"low filter spans {widths[0]} bins, high one {widths[1]}: on the mel scale high bands are much wider "
        "(evenly spaced in mel = 2595 log10(1 + f/700), not in Hz)")
    centre = mel_to_hz(torch.linspace(0, float(hz_to_mel(torch.tensor(8000.0))), 42))[1:-1]
    near = (freqs[peaks] - centre).abs()
    assert bool((near <= 40.0 + 1e-3).all()), f"filter peaks are not at the mel points (off by up to {near.max():.0f} Hz)"


def test_a_tone_lands_in_its_band():
    for hz in (300.0, 1000.0, 3000.0):
        lm = log_mel(tone(hz), 16000)
        assert lm.shape == (40, 51), f"log_mel of 0.5 s at 16 kHz should be (40, 51), got {tuple(lm.shape)}"
        band = int(lm.mean(1).argmax())
        fb = mel_filterbank(201, 40, 16000)
        want = int(fb[int(round(hz / 40))].argmax())
        assert abs(band - want) <= 1, f"a {hz:.0f} Hz tone is loudest in mel band {band}, expected about {want}"
    silent = log_mel(torch.zeros(1600), 16000)
    assert torch.isfinite(silent).all() and silent.max() <= torch.log(torch.tensor(1e-10)) + 1e-3, (
        "silence must give log(1e-10) everywhere (clamp before the log), never -inf")
