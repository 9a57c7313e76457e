//! `GET /health/live` and `GET /health/ready`: liveness never asks the
//! store; readiness turns 503 while the store is down and 200 again when it
//! is back (a private redis-server or PostgreSQL stopped and restarted).

use crate::postgres_support;
use crate::redis_support;

use std::time::Duration;

use serde_json::json;
use slipway_tests::TestServer;

/// Polls `path` (bounded) until it answers `status`.
async fn wait_for_status(s: &TestServer, path: &str, status: u16) {
    let mut last = None;
    for _ in 0..200 {
        let a = s.get(path, None).await;
        if a.status.as_u16() == status {
            return;
        }
        last = Some(a);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {status}; last: {last:?}");
}

#[tokio::test]
async fn live_and_ready_answer_200_on_a_healthy_instance() {
    let s = TestServer::start().await;
    assert_eq!(
        s.get("/health/live", None).await.expect(200),
        &json!({"status": "ok"})
    );
    assert_eq!(
        s.get("/health/ready", None).await.expect(200),
        &json!({"status": "ok", "store": "ok"})
    );
    // `/health` is unchanged.
    assert_eq!(
        s.get("/health", None).await.expect(200),
        &json!({"status": "ok", "store": "ok"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_a_redis_outage_and_live_does_not() {
    use redis_support::RedisServer;
    if slipway_tests::store_kind() != "redis" {
        eprintln!("skipped: runs in the Redis pass (SLIPWAY_TEST_STORE=redis)");
        return;
    }
    if !RedisServer::available() {
        assert!(
            !redis_support::backends_required(),
            "redis-server is not installed but SLIPWAY_REQUIRE_BACKENDS=1"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let mut redis = RedisServer::start_fresh();
    let url = format!("{}?prefix=probes", redis.url());
    let s = TestServer::start_with(move |a| a.database_url = url, |b| b).await;
    s.get("/health/ready", None).await.expect(200);

    redis.kill();
    wait_for_status(&s, "/health/ready", 503).await;
    let a = s.get("/health/ready", None).await;
    a.expect_error(503);
    assert_eq!(a.headers["retry-after"], "1");
    s.get("/health/live", None).await.expect(200);

    let (dir, port) = (redis.dir.clone(), redis.port);
    let _redis = RedisServer::start_on(&dir, port);
    wait_for_status(&s, "/health/ready", 200).await;
    s.get("/health/live", None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_a_postgres_outage_and_live_does_not() {
    use postgres_support::PgInstance;
    if slipway_tests::store_kind() != "postgres" {
        eprintln!("skipped: runs in the PostgreSQL pass (SLIPWAY_TEST_STORE=postgres)");
        return;
    }
    if !PgInstance::available() {
        assert!(
            !redis_support::backends_required(),
            "PostgreSQL is not installed but SLIPWAY_REQUIRE_BACKENDS=1"
        );
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    }
    let pg = PgInstance::start_fresh();
    let url = pg.admin_url();
    let s = TestServer::start_with(move |a| a.database_url = url, |b| b).await;
    s.get("/health/ready", None).await.expect(200);

    pg.stop();
    wait_for_status(&s, "/health/ready", 503).await;
    s.get("/health/ready", None).await.expect_error(503);
    s.get("/health/live", None).await.expect(200);

    pg.start();
    wait_for_status(&s, "/health/ready", 200).await;
    s.get("/health/live", None).await.expect(200);
}
