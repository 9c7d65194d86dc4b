"""Load profiles: deterministic per seed, physically shaped, validated."""

from __future__ import annotations

import pytest

from hardware.errors import ProfileError
from hardware.profiles import (
    EvChargerProfile,
    HouseholdProfile,
    SiteProfile,
    SolarProfile,
    prosumer_site,
)

HOUR = 3600.0


def test_same_seed_same_day_and_other_seed_differs():
    a, b, c = prosumer_site(seed=3), prosumer_site(seed=3), prosumer_site(seed=4)
    times = [h * HOUR + 17.0 for h in range(24)]
    assert [a.sample(t) for t in times] == [b.sample(t) for t in times]
    assert [a.sample(t).net_w for t in times] != [c.sample(t).net_w for t in times]
    # Evaluation order does not matter: late hours first give the same values.
    d = prosumer_site(seed=3)
    assert [d.sample(t) for t in reversed(times)] == [a.sample(t) for t in reversed(times)]


def test_solar_shape_and_cloud_cover():
    clear = SolarProfile(peak_power_w=5000, cloud_cover=0.0, seed=1)
    cloudy = SolarProfile(peak_power_w=5000, cloud_cover=1.0, seed=1)
    assert clear.power_w(2 * HOUR) == 0.0 and clear.power_w(22 * HOUR) == 0.0
    noon = (clear.sunrise_h + clear.sunset_h) / 2 * HOUR
    assert clear.power_w(noon) == pytest.approx(5000.0)
    assert clear.power_w(9 * HOUR) < clear.power_w(noon)
    day_clear = sum(clear.power_w(t) for t in range(0, 86400, 60))
    day_cloudy = sum(cloudy.power_w(t) for t in range(0, 86400, 60))
    assert 0.2 * day_clear < day_cloudy < 0.9 * day_clear
    # Next day repeats the clear-sky curve but draws new clouds.
    partly = SolarProfile(cloud_cover=0.6, seed=1)
    assert partly.clear_sky_w(noon) == partly.clear_sky_w(noon + 86400)
    assert partly.power_w(noon) != partly.power_w(noon + 86400)


def test_household_has_morning_and_evening_peaks():
    house = HouseholdProfile(appliance_w=0.0)
    night, morning, midday, evening = (house.power_w(h * HOUR) for h in (3, 7.5, 13, 19.5))
    assert morning > 3 * night and evening > morning and midday < morning
    assert house.reactive_var(19.5 * HOUR) > 0


def test_ev_session_delivers_its_energy_and_crosses_midnight():
    ev = EvChargerProfile(charge_power_w=7400, arrival_h=23.5, arrival_spread_h=0.0,
                          min_session_wh=10_000, max_session_wh=10_000, seed=2)
    start, end = ev.session(0)
    assert start == 23.5 * HOUR
    assert (end - start) / HOUR * 7400 == pytest.approx(10_000)
    assert ev.power_w(start + 1) == 7400 and ev.power_w(86400 + 30) == 7400
    assert ev.power_w(end + 1) == 0.0
    assert EvChargerProfile(enabled=False).power_w(start + 1) == 0.0


def test_site_net_power_and_phase_split():
    single = prosumer_site(seed=5, phases=1)
    s = single.sample(12.25 * HOUR)
    assert s.net_w == pytest.approx(s.house_w + s.ev_w - s.solar_w)
    three = prosumer_site(seed=5, phases=3)
    t = three.sample(12.25 * HOUR)
    assert len(t.phase_active_w) == 3
    assert t.net_w == pytest.approx(t.house_w + t.ev_w - t.solar_w)
    # Exporting raises the voltage on that phase.
    assert s.net_w < 0 and max(s.phase_voltage_v) > 0
    assert 49.9 < s.frequency_hz < 50.1


def test_expected_energy_balances():
    site = prosumer_site(seed=9)
    total = site.expected_energy(0, 86400, step_s=10)
    assert total.import_wh > 0 and total.export_wh > 0
    net_wh = sum(site.sample(t + 5).net_w * 10 / 3600 for t in range(0, 86400, 10))
    assert total.import_wh - total.export_wh == pytest.approx(net_wh, rel=1e-9)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: SolarProfile(cloud_cover=1.5), "bad_cloud_cover"),
        (lambda: SolarProfile(sunrise_h=19, sunset_h=6), "bad_daylight"),
        (lambda: SolarProfile(peak_power_w=-1), "bad_peak_power"),
        (lambda: HouseholdProfile(power_factor=0.2), "bad_power_factor"),
        (lambda: EvChargerProfile(charge_power_w=0), "bad_charge_power"),
        (lambda: SiteProfile(phases=2), "bad_phases"),
    ],
)
def test_bad_profiles_are_rejected(build, reason):
    with pytest.raises(ProfileError) as err:
        build()
    assert err.value.reason == reason
