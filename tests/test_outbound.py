"""Tenant-chosen provider and Dify addresses cannot reach the platform's own network."""

import pytest

from portal.outbound import OutboundRefused, check_outbound_url
from tests.conftest import api


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7:8080",
        "http://192.168.1.1",
        "file:///etc/passwd",
        "http://no-such-host.invalid",
        "https://api.openai.com/v1#",
        "https://api.openai.com/v1?x=",
    ],
)
def test_private_metadata_and_odd_addresses_are_refused(url, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(OutboundRefused):
        check_outbound_url(url)


def test_listed_networks_are_allowed_but_never_metadata(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8", "169.254.0.0/16"]
    check_outbound_url("http://10.1.2.3:8000/v1")
    with pytest.raises(OutboundRefused):
        check_outbound_url("http://169.254.169.254/")


def test_settings_apis_refuse_an_internal_address(hr, client_for, settings):
    # given
    settings.OUTBOUND_ALLOWED_HOSTS = []
    admin = client_for(hr, "hr_admin")

    # when
    llm = admin.put(
        api(hr, "settings/llm"),
        {"providers": {"openai_compatible": {"base_url": "http://127.0.0.1:5432"}}},
        format="json",
    )
    dify = admin.put(
        api(hr, "settings/dify"),
        {"base_url": "http://127.0.0.1:6379", "api_key": "app-x", "app_mode": "chat"},
        format="json",
    )

    # then
    assert llm.status_code == 400 and "private or local" in llm.content.decode()
    assert dify.status_code == 400 and "private or local" in dify.content.decode()
