import pytest

from bbp_common.platform.settings import (
    DatabaseSettings,
    LoggingSettings,
    SettingsError,
    describe,
    load_settings,
    parse_duration,
    parse_durations,
)


def test_missing_setting_names_the_variable(monkeypatch):
    monkeypatch.delenv("BBP_DATABASE_URL", raising=False)
    with pytest.raises(SettingsError) as err:
        load_settings(DatabaseSettings)
    assert "BBP_DATABASE_URL" in str(err.value)


def test_malformed_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("BBP_DATABASE_URL", "mysql+pymysql://u@h/db")
    monkeypatch.setenv("BBP_DB_POOL_SIZE", "many")
    with pytest.raises(SettingsError) as err:
        load_settings(DatabaseSettings)
    assert "BBP_DB_POOL_SIZE" in str(err.value)
    assert "BBP_DATABASE_URL" not in str(err.value)


def test_an_unknown_log_level_stops_at_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("BBP_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as err:
        load_settings(LoggingSettings)
    assert "BBP_LOG_LEVEL" in str(err.value)
    monkeypatch.setenv("BBP_LOG_LEVEL", " debug ")
    assert load_settings(LoggingSettings).log_level == "DEBUG"


def test_secret_url_is_not_in_the_repr(monkeypatch):
    monkeypatch.setenv("BBP_DATABASE_URL", "mysql+pymysql://u:hunter22@h/db")
    settings = load_settings(DatabaseSettings)
    assert "hunter22" not in repr(settings)
    assert settings.database_url.get_secret_value().endswith("@h/db")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5m", 90.0),
        ("250ms", 0.25),
        ("6h", 21600.0),
        ("1d", 86400.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_schedules():
    assert parse_durations("1m,5m,15m,1h,6h") == (60.0, 300.0, 900.0, 3600.0, 21600.0)
    assert parse_durations("") == ()
    with pytest.raises(ValueError, match="not a duration"):
        parse_durations("1m,soon")


def test_every_setting_is_described():
    for name, _default, description in describe(DatabaseSettings):
        assert name.startswith("BBP_")
        assert description, f"{name} has no description"


def test_a_schedule_is_read_from_the_environment(monkeypatch):
    from pydantic import Field

    from bbp_common.platform.settings import Schedule, _Base

    class WithSchedule(_Base):
        enquiry_schedule: Schedule = Field("1m,5m")

    monkeypatch.setenv("BBP_ENQUIRY_SCHEDULE", "1s,2s,3s")
    assert load_settings(WithSchedule).enquiry_schedule == (1.0, 2.0, 3.0)
    monkeypatch.setenv("BBP_ENQUIRY_SCHEDULE", "1s,later")
    with pytest.raises(SettingsError) as err:
        load_settings(WithSchedule)
    assert "BBP_ENQUIRY_SCHEDULE" in str(err.value)
