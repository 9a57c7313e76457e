//! The core backend cases (the event feed across a crash and restart of
//! Redis, and across a Redis that lost its data) against a private
//! redis-server per case (AOF, `appendfsync always`).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use slipway_core::testing::cases::Backend;
use slipway_core::Store;
use slipway_redis::{RedisOptions, RedisStore};
use support::RedisServer;

/// The options the recovery tests use: short timeouts, so calls made while
/// Redis is down fail fast and the store retries.
fn options() -> RedisOptions {
    RedisOptions {
        prefix: "backend".into(),
        command_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    }
}

/// The case's redis-server, kept alive for the whole case; SIGKILLed and its
/// data directory removed on drop.
struct PrivateRedis {
    server: Mutex<RedisServer>,
}

impl PrivateRedis {
    fn url(&self) -> String {
        self.server.lock().expect("server lock").url()
    }
}

#[async_trait]
impl Backend for PrivateRedis {
    async fn restart(&self) -> bool {
        // SIGKILL (no clean shutdown; AOF with `appendfsync always` keeps
        // every acknowledged write), then the same port and directory again,
        // back once it answers PING. Blocking: off the async workers.
        tokio::task::block_in_place(|| self.server.lock().expect("server lock").restart());
        true
    }

    async fn lose_data(&self) -> bool {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connects to the private redis-server");
        let () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("FLUSHALL");
        true
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let server = self.server.get_mut().unwrap_or_else(|e| e.into_inner());
        server.kill();
        let _ = std::fs::remove_dir_all(&server.dir);
    }
}

async fn setup() -> Option<(Arc<dyn Store>, Arc<dyn Backend>)> {
    let server = support::start_fresh("backend case")?;
    let backend = PrivateRedis {
        server: Mutex::new(server),
    };
    let store = RedisStore::connect(&backend.url(), options())
        .await
        .expect("connects to the private redis-server");
    Some((Arc::new(store), Arc::new(backend)))
}

slipway_core::store_backend_conformance!(setup);
