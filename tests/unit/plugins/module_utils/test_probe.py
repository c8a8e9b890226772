"""Expectations and the retry loop of service_probe (pure parts, fake clock)."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.probe import (
    Response,
    check_response,
    excerpt,
    probe_until,
    service_proxy_path,
)


def test_service_proxy_path():
    assert service_proxy_path('ns', 'svc', 'http') == '/api/v1/namespaces/ns/services/svc:http/proxy/'
    assert service_proxy_path('ns', 'svc', 9000, 'https', 'minio/health/ready') == \
        '/api/v1/namespaces/ns/services/https:svc:9000/proxy/minio/health/ready'


@pytest.mark.parametrize('response,codes,regex,query,problem', [
    (Response(200, '{"status": "ok"}', 0.01), [200], None, "status == 'ok'", None),
    (Response(200, 'OK', 0.01), [200], '^OK$', None, None),
    (Response(204, '', 0.01), [200, 204], None, None, None),
    (Response(503, 'no endpoints', 0.01), [200], None, None, 'HTTP 503, expected 200'),
    (Response(200, 'nope', 0.01), [200], '^OK$', None, "body does not match '^OK$'"),
    (Response(200, 'not json', 0.01), [200], None, 'status', "body is not JSON, cannot check 'status'"),
    (Response(200, '{"status": "starting"}', 0.01), [200], None, "status == 'ok'", "JSON check \"status == 'ok'\" is false"),
    (Response(None, '', 0.01, error='connection refused'), [200], None, None, 'no HTTP answer: connection refused'),
])
def test_check_response(response, codes, regex, query, problem):
    assert check_response(response, codes, regex, query) == problem


def test_bad_json_query_is_a_caller_error():
    with pytest.raises(ValueError):
        check_response(Response(200, '{}', 0.0), [200], None, 'status ==')


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_probe_until_retries_with_backoff_then_succeeds():
    clock = FakeClock()
    answers = iter([Response(503, '', 0.0), Response(503, '', 0.0), Response(200, 'OK', 0.0)])
    ok, last, attempts, problem = probe_until(lambda: next(answers), 10, [200], clock=clock, sleep=clock.sleep)
    assert ok and attempts == 3 and problem is None and last.status == 200
    assert clock.sleeps == [0.2, 0.4]


def test_probe_until_gives_up_at_the_deadline_without_oversleeping():
    clock = FakeClock()
    ok, last, attempts, problem = probe_until(lambda: Response(500, 'boom', 0.0), 3.0, [200], clock=clock, sleep=clock.sleep)
    assert not ok and problem == 'HTTP 500, expected 200' and last.body == 'boom'
    assert clock.now == pytest.approx(3.0)
    assert max(clock.sleeps) <= 2.0


def test_excerpt():
    assert excerpt('abc', 5) == 'abc'
    assert excerpt('abcdef', 3) == 'abc...'
    assert excerpt(None) == ''
