"""Path loss against TR 38.901 Table 7.4.1-1, written out again independently here."""

from __future__ import annotations

import math

import pytest

from spp.coverage.pathloss import fspl_db, pathloss_db
from spp.errors import ScenarioError

C = 3.0e8


def d3(d2: float, hb: float, hu: float) -> float:
    return math.sqrt(d2 * d2 + (hb - hu) ** 2)


def ref_uma_los(d2: float, f_ghz: float, hb: float, hu: float) -> float:
    dbp = 4 * (hb - 1) * (hu - 1) * f_ghz * 1e9 / C
    dd = d3(d2, hb, hu)
    if d2 <= dbp:
        return 28.0 + 22 * math.log10(dd) + 20 * math.log10(f_ghz)
    return (28.0 + 40 * math.log10(dd) + 20 * math.log10(f_ghz)
            - 9 * math.log10(dbp**2 + (hb - hu) ** 2))


def ref_uma_nlos(d2: float, f_ghz: float, hb: float, hu: float) -> float:
    nlos = 13.54 + 39.08 * math.log10(d3(d2, hb, hu)) + 20 * math.log10(f_ghz) - 0.6 * (hu - 1.5)
    return max(ref_uma_los(d2, f_ghz, hb, hu), nlos)


def ref_umi_los(d2: float, f_ghz: float, hb: float, hu: float) -> float:
    dbp = 4 * (hb - 1) * (hu - 1) * f_ghz * 1e9 / C
    dd = d3(d2, hb, hu)
    if d2 <= dbp:
        return 32.4 + 21 * math.log10(dd) + 20 * math.log10(f_ghz)
    return (32.4 + 40 * math.log10(dd) + 20 * math.log10(f_ghz)
            - 9.5 * math.log10(dbp**2 + (hb - hu) ** 2))


def ref_umi_nlos(d2: float, f_ghz: float, hb: float, hu: float) -> float:
    nlos = 35.3 * math.log10(d3(d2, hb, hu)) + 22.4 + 21.3 * math.log10(f_ghz) - 0.3 * (hu - 1.5)
    return max(ref_umi_los(d2, f_ghz, hb, hu), nlos)


def ref_rma_los(d2: float, f_ghz: float, hb: float, hu: float, h: float = 5.0) -> float:
    def pl1(d: float) -> float:
        return (20 * math.log10(40 * math.pi * d * f_ghz / 3) + min(0.03 * h**1.72, 10)
                * math.log10(d) - min(0.044 * h**1.72, 14.77) + 0.002 * math.log10(h) * d)

    dbp = 2 * math.pi * hb * hu * f_ghz * 1e9 / C
    if d2 <= dbp:
        return pl1(d3(d2, hb, hu))
    return pl1(dbp) + 40 * math.log10(d3(d2, hb, hu) / dbp)


def ref_rma_nlos(d2: float, f_ghz: float, hb: float, hu: float, h: float = 5.0,
                 w: float = 20.0) -> float:
    dd = d3(d2, hb, hu)
    nlos = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
            - (24.37 - 3.7 * (h / hb) ** 2) * math.log10(hb)
            + (43.42 - 3.1 * math.log10(hb)) * (math.log10(dd) - 3)
            + 20 * math.log10(f_ghz) - (3.2 * (math.log10(11.75 * hu)) ** 2 - 4.97))
    return max(ref_rma_los(d2, f_ghz, hb, hu, h), nlos)


CASES = [
    ("uma", True, ref_uma_los, 25.0, 1.5),
    ("uma", False, ref_uma_nlos, 25.0, 1.5),
    ("uma", True, ref_uma_los, 25.0, 10.0),
    ("umi", True, ref_umi_los, 10.0, 1.5),
    ("umi", False, ref_umi_nlos, 10.0, 1.5),
    ("rma", True, ref_rma_los, 35.0, 1.5),
    ("rma", False, ref_rma_nlos, 35.0, 1.5),
]


@pytest.mark.parametrize("model,los,ref,hb,hu", CASES)
@pytest.mark.parametrize("freq_mhz", [700.0, 1800.0, 3500.0, 26_000.0])
@pytest.mark.parametrize("d2_m", [10.0, 35.0, 150.0, 600.0, 1500.0, 4900.0])
def test_pathloss_matches_tr38901_formulas(model, los, ref, hb, hu, freq_mhz, d2_m):
    got = float(pathloss_db(model, d2_m, freq_mhz, h_bs_m=hb, h_ut_m=hu, los=los))
    assert got == pytest.approx(ref(d2_m, freq_mhz / 1000, hb, hu), abs=1e-9)


def test_breakpoint_splits_uma_los_into_two_slopes():
    # 3.5 GHz, 25 m / 1.5 m: d'_BP = 4*24*0.5*3.5e9/3e8 = 560 m.
    near = pathloss_db("uma", [100.0, 200.0], 3500.0, h_bs_m=25.0, h_ut_m=1.5)
    far = pathloss_db("uma", [2000.0, 4000.0], 3500.0, h_bs_m=25.0, h_ut_m=1.5)
    assert near[1] - near[0] == pytest.approx(22 * math.log10(d3(200, 25, 1.5) / d3(100, 25, 1.5)))
    assert far[1] - far[0] == pytest.approx(40 * math.log10(d3(4000, 25, 1.5) / d3(2000, 25, 1.5)))


@pytest.mark.parametrize("d_m,f_mhz", [(1.0, 1.0), (1000.0, 3500.0), (12_345.0, 700.0)])
def test_free_space_is_exact(d_m, f_mhz):
    assert float(fspl_db(d_m, f_mhz)) == pytest.approx(
        20 * math.log10(d_m) + 20 * math.log10(f_mhz) - 27.55, abs=1e-12)


def test_fspl_model_uses_3d_distance():
    got = float(pathloss_db("fspl", 300.0, 3500.0, h_bs_m=41.5, h_ut_m=1.5))
    assert got == pytest.approx(20 * math.log10(d3(300, 41.5, 1.5)) + 20 * math.log10(3500) - 27.55)


def test_vectorised_los_mask_mixes_formulas():
    got = pathloss_db("umi", [100.0, 100.0], 3500.0, h_bs_m=10.0, los=[True, False])
    assert got[0] == pytest.approx(ref_umi_los(100, 3.5, 10, 1.5))
    assert got[1] == pytest.approx(ref_umi_nlos(100, 3.5, 10, 1.5))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(model="uma", d_2d_m=6000.0, freq_mhz=3500.0, h_bs_m=25.0),  # beyond 5 km
        dict(model="uma", d_2d_m=5.0, freq_mhz=3500.0, h_bs_m=25.0),  # under 10 m
        dict(model="umi", d_2d_m=100.0, freq_mhz=300.0, h_bs_m=10.0),  # below 0.5 GHz
        dict(model="rma", d_2d_m=100.0, freq_mhz=40_000.0, h_bs_m=35.0),  # above 30 GHz
        dict(model="rma", d_2d_m=100.0, freq_mhz=3500.0, h_bs_m=5.0),  # h_BS < 10 m
        dict(model="uma", d_2d_m=100.0, freq_mhz=3500.0, h_bs_m=25.0, h_ut_m=30.0),
        dict(model="rma", d_2d_m=7000.0, freq_mhz=3500.0, h_bs_m=35.0, los=False),
        dict(model="okumura", d_2d_m=100.0, freq_mhz=900.0, h_bs_m=30.0),
    ],
)
def test_out_of_range_inputs_raise(kwargs):
    model = kwargs.pop("model")
    d = kwargs.pop("d_2d_m")
    f = kwargs.pop("freq_mhz")
    with pytest.raises(ScenarioError):
        pathloss_db(model, d, f, **kwargs)


def test_out_of_range_can_warn_instead(caplog):
    got = pathloss_db("uma", 6000.0, 3500.0, h_bs_m=25.0, out_of_range="warn")
    assert math.isfinite(float(got))
    assert "outside" in caplog.text


def test_rma_los_is_valid_to_10_km():
    got = float(pathloss_db("rma", 9000.0, 700.0, h_bs_m=35.0, los=True))
    assert got == pytest.approx(ref_rma_los(9000, 0.7, 35, 1.5))
