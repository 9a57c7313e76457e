//! A small fake DNS server on 127.0.0.1 (UDP), standing in for the public DNS
//! in domain verification tests. Messages are decoded and encoded with
//! hickory-proto; the answers are whatever the test sets.
//!
//! ```ignore
//! let dns = FakeDns::start().await;
//! dns.set_txt("_slipway-challenge.example.com", &["the-challenge"]);
//! let s = TestServer::start_with(|_| {}, |b| b.dns_servers(vec![dns.addr])).await;
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsMode {
    /// Answer from the records set: TXT records for known names (NOERROR with
    /// no answer when a known name has none), NXDOMAIN for unknown names.
    Answer,
    /// Read queries but never answer (the resolver times out).
    Silent,
    /// Answer every query with SERVFAIL.
    ServFail,
}

#[derive(Default)]
struct State {
    /// Lowercase name without trailing dot → TXT values.
    txt: HashMap<String, Vec<String>>,
}

/// A running fake DNS server; stops when dropped.
pub struct FakeDns {
    /// The UDP address to give the resolver.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    mode: Arc<Mutex<DnsMode>>,
    queries: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDns {
    /// Binds 127.0.0.1:0 and serves in the background (mode [`DnsMode::Answer`]).
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = socket.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let mode = Arc::new(Mutex::new(DnsMode::Answer));
        let queries = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(serve(socket, state.clone(), mode.clone(), queries.clone()));
        Self {
            addr,
            state,
            mode,
            queries,
            task,
        }
    }

    /// Sets the TXT records of `name` (an empty list: the name exists but has
    /// no TXT record).
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.state.lock().unwrap().txt.insert(
            normalize(name),
            values.iter().map(|v| v.to_string()).collect(),
        );
    }

    /// Removes `name` (it answers NXDOMAIN again).
    pub fn remove(&self, name: &str) {
        self.state.lock().unwrap().txt.remove(&normalize(name));
    }

    /// Changes how the server answers.
    pub fn set_mode(&self, mode: DnsMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// How many queries arrived so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve(
    socket: UdpSocket,
    state: Arc<Mutex<State>>,
    mode: Arc<Mutex<DnsMode>>,
    queries: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(request) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        let mode = *mode.lock().unwrap();
        if mode == DnsMode::Silent {
            continue;
        }
        let response = answer(&request, mode, &state.lock().unwrap());
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

fn answer(request: &Message, mode: DnsMode, state: &State) -> Message {
    let mut resp = Message::new();
    resp.set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    resp.add_queries(request.queries().to_vec());
    if mode == DnsMode::ServFail {
        resp.set_response_code(ResponseCode::ServFail);
        return resp;
    }
    let Some(query) = request.queries().first() else {
        resp.set_response_code(ResponseCode::FormErr);
        return resp;
    };
    let name = normalize(&query.name().to_ascii());
    match state.txt.get(&name) {
        None => {
            resp.set_response_code(ResponseCode::NXDomain);
        }
        Some(values) => {
            resp.set_response_code(ResponseCode::NoError);
            if query.query_type() == RecordType::TXT {
                for v in values {
                    resp.add_answer(Record::from_rdata(
                        query.name().clone(),
                        60,
                        RData::TXT(TXT::new(vec![v.clone()])),
                    ));
                }
            }
        }
    }
    resp
}
