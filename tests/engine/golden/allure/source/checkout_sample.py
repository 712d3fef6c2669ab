"""Sample tests for the testdash Allure 2 golden files."""

import pathlib

import allure
import pytest

MARKER = pathlib.Path(__file__).with_name("flaky.marker")


@pytest.fixture
def gateway():
    raise ConnectionError("gateway unreachable")


class TestBasket:
    def test_add_item(self):
        assert 1 + 1 == 2

    def test_remove_item(self):
        assert 3 == 4, "basket total differs"

    @pytest.mark.parametrize("item", ["apple", "käse"])
    def test_param(self, item):
        assert item


def test_payment(gateway):
    pass


def test_broken_in_body():
    raise RuntimeError("unexpected state")


@pytest.mark.skip(reason="payment provider not configured")
def test_pay_later():
    pass


@pytest.mark.xfail(reason="known bug 42")
def test_known_bug():
    assert False


@allure.title("Retried until it passes")
def test_flaky_retry():
    if not MARKER.exists():
        MARKER.write_text("failed once")
        assert False, "first attempt fails"


# ruff: noqa: B011  (kept byte-identical above the golden files: their traces quote these lines)
