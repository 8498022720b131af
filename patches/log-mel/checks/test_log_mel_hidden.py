"""log-mel (hidden): the filterbank equals torchaudio's melscale_fbanks (htk, no norm) on several
settings, and other FFT sizes and hops match torch.stft."""

import pytest
import torch

from lab.melspec import hz_to_mel, mel_filterbank, mel_to_hz, stft_power

torch.set_num_threads(1)


def reference_fbank(n_freqs, n_mels, sr, f_min, f_max):
    """torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk"), restated."""
    all_freqs = torch.linspace(0, sr // 2, n_freqs, dtype=torch.float64)
    m_pts = torch.linspace(float(hz_to_mel(torch.tensor(f_min))), float(hz_to_mel(torch.tensor(f_max))), n_mels + 2,
                           dtype=torch.float64)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1, dtype=torch.float64), torch.min(down, up))


@pytest.mark.parametrize("n_freqs,n_mels,sr,f_min,f_max", [(201, 40, 16000, 0.0, 8000.0), (257, 64, 22050, 20.0, 8000.0),
                                                           (129, 23, 8000, 100.0, 3800.0)])
def test_filterbank_equals_torchaudio(n_freqs, n_mels, sr, f_min, f_max):
    got = mel_filterbank(n_freqs, n_mels, sr, f_min, f_max).double()
    want = reference_fbank(n_freqs, n_mels, sr, f_min, f_max)
    assert torch.allclose(got, want, atol=1e-5), (
        f"filterbank ({n_freqs}, {n_mels}, sr {sr}, {f_min}-{f_max} Hz) differs from torchaudio's by "
        f"{(got - want).abs().max():.3g}: edges and peaks at n_mels + 2 points evenly spaced in mel from f_min to f_max")


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (256, 100)])
def test_other_sizes(n_fft, hop):
    wave = torch.randn(5000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = stft_power(wave, n_fft, hop)
    want = torch.stft(wave, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64), center=True,
                      pad_mode="reflect", return_complex=True).abs() ** 2
    assert got.shape == want.shape and torch.allclose(got, want, rtol=1e-6, atol=1e-6), f"n_fft {n_fft}, hop {hop} differ"
